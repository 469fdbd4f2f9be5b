//! Objective and constraint expressions over design columns: `7.85e-6 * t * w * l`, `min_wall - 0.8 >= 0`.
//!
//! A small language of our own rather than a crate (meval, evalexpr, fasteval, ...), because we need
//! three things together that none of them gives: errors that carry the byte position and say what was
//! expected and what was found, so the dashboard can point at the mistake; a closed set of functions,
//! so a study stored today means the same thing after an upgrade; and a form that is compiled once
//! against the column order and then evaluated millions of times by solvers without allocating.
//!
//! Grammar (precedence from loose to tight):
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/') unary)*
//! unary   := '-' unary | power            -x^2 is -(x^2), as in mathematics
//! power   := primary ('^' unary)?         right-associative: 2^3^2 = 2^9
//! primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
//! ```
//! Numbers are decimal (`3`, `.5`, `1e-6`, `2.5E+3`). Names are letters, digits and `_`, not starting
//! with a digit; a column name with spaces or brackets is quoted with backticks: `` `Torque [Nm]` ``.
//! The bare names `pi` and `e` are constants; quote them (`` `e` ``) to mean a column of that name.
//! Functions: abs, sqrt, exp, ln, log10, sin, cos, tan (one argument), pow (two), min and max (one
//! or more). Comparisons are not part of expressions; they belong to [`Constraint`].

use std::fmt;

/// Nesting deeper than this is rejected at parse time, so hostile input cannot overflow the stack.
const MAX_NESTING: usize = 200;
/// Trees taller than this are rejected, which bounds every recursive walk over them.
const MAX_HEIGHT: usize = 2000;

/// A parse or bind error at a byte offset of the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Byte offset in the source where the problem was found.
    pub position: usize,
    /// What was expected and what was found, including the position.
    pub message: String,
}

impl ExprError {
    fn new(position: usize, message: String) -> Self {
        ExprError { position, message }
    }

    fn expected(what: &str, found: &Token, src: &str) -> Self {
        ExprError::new(found.pos, format!("expected {what} at {}, found {}", found.pos, found.describe(src)))
    }
}

/// One of the closed set of functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Abs,
    Sqrt,
    Exp,
    Ln,
    Log10,
    Sin,
    Cos,
    Tan,
    Pow,
    Min,
    Max,
}

const FUNCS: [(&str, Func); 11] = [
    ("abs", Func::Abs),
    ("cos", Func::Cos),
    ("exp", Func::Exp),
    ("ln", Func::Ln),
    ("log10", Func::Log10),
    ("max", Func::Max),
    ("min", Func::Min),
    ("pow", Func::Pow),
    ("sin", Func::Sin),
    ("sqrt", Func::Sqrt),
    ("tan", Func::Tan),
];

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        FUNCS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The name as written in expressions.
    pub fn name(self) -> &'static str {
        FUNCS.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }

    fn apply1(self, x: f64) -> f64 {
        match self {
            Func::Abs => x.abs(),
            Func::Sqrt => x.sqrt(),
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Log10 => x.log10(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Pow | Func::Min | Func::Max => f64::NAN,
        }
    }

    /// Checks the argument count; `None` means it is fine.
    fn arity_error(self, n: usize) -> Option<&'static str> {
        match self {
            Func::Pow if n != 2 => Some("2 arguments"),
            Func::Pow => None,
            Func::Min | Func::Max if n == 0 => Some("at least 1 argument"),
            Func::Min | Func::Max => None,
            _ if n != 1 => Some("1 argument"),
            _ => None,
        }
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
            BinOp::Pow => 4,
        }
    }
}

/// The syntax tree of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Num(f64),
    /// A variable and the byte offset of its first character, for bind errors.
    Var(String, usize),
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

const UNARY_PRECEDENCE: u8 = 3;
const ATOM_PRECEDENCE: u8 = 5;

impl Node {
    fn precedence(&self) -> u8 {
        match self {
            Node::Num(v) if *v < 0.0 || (*v == 0.0 && v.is_sign_negative()) => UNARY_PRECEDENCE,
            Node::Num(_) | Node::Var(..) | Node::Call(..) => ATOM_PRECEDENCE,
            Node::Neg(_) => UNARY_PRECEDENCE,
            Node::Bin(op, ..) => op.precedence(),
        }
    }

    fn collect_vars<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Num(_) => {}
            Node::Var(name, _) => out.push(name),
            Node::Neg(a) => a.collect_vars(out),
            Node::Bin(_, a, b) => {
                a.collect_vars(out);
                b.collect_vars(out);
            }
            Node::Call(_, args) => args.iter().for_each(|a| a.collect_vars(out)),
        }
    }
}

/// Prints with the fewest parentheses that parse back to the same tree.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn child(f: &mut fmt::Formatter<'_>, n: &Node, wrap: bool) -> fmt::Result {
            if wrap {
                write!(f, "({n})")
            } else {
                write!(f, "{n}")
            }
        }
        match self {
            Node::Num(v) if v.is_finite() => write!(f, "{v}"),
            Node::Num(v) if v.is_nan() => write!(f, "(0.0/0.0)"),
            Node::Num(v) => write!(f, "({}1.0/0.0)", if *v < 0.0 { "-" } else { "" }),
            Node::Var(name, _) if is_plain_name(name) => write!(f, "{name}"),
            Node::Var(name, _) => write!(f, "`{name}`"),
            Node::Neg(a) => {
                write!(f, "-")?;
                child(f, a, a.precedence() < UNARY_PRECEDENCE)
            }
            Node::Bin(op, a, b) => {
                let p = op.precedence();
                // Left-associative operators need parentheses on an equal-precedence right child,
                // `^` (right-associative) on an equal-or-lower left child and any unary-minus left child.
                let (wrap_a, wrap_b) = match op {
                    BinOp::Pow => (a.precedence() <= p, b.precedence() < UNARY_PRECEDENCE),
                    _ => (a.precedence() < p, b.precedence() <= p),
                };
                child(f, a, wrap_a)?;
                write!(f, " {} ", op.symbol())?;
                child(f, b, wrap_b)
            }
            Node::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
        }
    }
}

fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_alphanumeric() || c == '_') && name != "pi" && name != "e"
}

/// A parsed expression, not yet tied to a column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    root: Node,
}

impl Expr {
    /// Parses an expression; comparisons are rejected (see [`Constraint::parse`]).
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let mut p = Parser::new(src)?;
        let (root, _) = p.expr()?;
        p.expect_end("an operator or end of input")?;
        Ok(Expr { root })
    }

    /// The syntax tree.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// The variable names used, sorted and without repeats.
    pub fn variables(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.root.collect_vars(&mut names);
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(str::to_owned).collect()
    }

    /// Compiles against a column order; `eval` then takes values in this order. The first
    /// occurrence of a repeated name wins.
    pub fn bind<S: AsRef<str>>(&self, names: &[S]) -> Result<Compiled, ExprError> {
        let mut program = Vec::new();
        compile(&self.root, names, &mut program)?;
        let mut depth = 0usize;
        let mut max_depth = 0usize;
        for op in &program {
            depth = depth + 1 - op.pops();
            max_depth = max_depth.max(depth);
        }
        debug_assert_eq!(depth, 1);
        if max_depth > STACK_LARGE {
            return Err(ExprError::new(0, format!("expression needs a stack of {max_depth}, more than {STACK_LARGE}")));
        }
        Ok(Compiled { program, max_depth, n_inputs: names.len() })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

impl std::str::FromStr for Expr {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expr::parse(s)
    }
}

fn compile<S: AsRef<str>>(node: &Node, names: &[S], out: &mut Vec<Op>) -> Result<(), ExprError> {
    match node {
        Node::Num(v) => out.push(Op::Const(*v)),
        Node::Var(name, pos) => match names.iter().position(|n| n.as_ref() == name) {
            Some(i) => out.push(Op::Var(i)),
            None => {
                let known: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                return Err(ExprError::new(*pos, format!("unknown variable '{name}' at {pos}; known: {known}")));
            }
        },
        Node::Neg(a) => {
            compile(a, names, out)?;
            out.push(Op::Neg);
        }
        Node::Bin(op, a, b) => {
            compile(a, names, out)?;
            compile(b, names, out)?;
            out.push(Op::Bin(*op));
        }
        Node::Call(func, args) => {
            compile(&args[0], names, out)?;
            match func {
                // n-ary min/max fold pairwise so the stack stays as shallow as the nesting.
                Func::Min | Func::Max | Func::Pow => {
                    for a in &args[1..] {
                        compile(a, names, out)?;
                        out.push(Op::Call2(*func));
                    }
                }
                _ => out.push(Op::Call1(*func)),
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Const(f64),
    Var(usize),
    Neg,
    Bin(BinOp),
    Call1(Func),
    Call2(Func),
}

impl Op {
    fn pops(self) -> usize {
        match self {
            Op::Const(_) | Op::Var(_) => 0,
            Op::Neg | Op::Call1(_) => 1,
            Op::Bin(_) | Op::Call2(_) => 2,
        }
    }
}

const STACK_SMALL: usize = 16;
const STACK_LARGE: usize = 1024;

/// An expression compiled to a postfix program over a fixed column order.
///
/// `eval` keeps its operand stack in a fixed-size array on the machine stack (size chosen from the
/// depth computed at bind time), so evaluation never allocates. It is `Send + Sync` and can be
/// shared across solver threads.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    program: Vec<Op>,
    max_depth: usize,
    n_inputs: usize,
}

impl Compiled {
    /// Evaluates with `values` in the order of the names given to [`Expr::bind`].
    ///
    /// Panics if `values` is shorter than that list of names.
    pub fn eval(&self, values: &[f64]) -> f64 {
        assert!(
            values.len() >= self.n_inputs,
            "expression bound to {} names evaluated with {} values",
            self.n_inputs,
            values.len()
        );
        if self.max_depth <= STACK_SMALL {
            self.run::<STACK_SMALL>(values)
        } else {
            self.run::<STACK_LARGE>(values)
        }
    }

    /// How many values `eval` expects.
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn run<const N: usize>(&self, values: &[f64]) -> f64 {
        let mut stack = [0.0f64; N];
        let mut sp = 0usize;
        for op in &self.program {
            match *op {
                Op::Const(v) => {
                    stack[sp] = v;
                    sp += 1;
                }
                Op::Var(i) => {
                    stack[sp] = values[i];
                    sp += 1;
                }
                Op::Neg => stack[sp - 1] = -stack[sp - 1],
                Op::Call1(f) => stack[sp - 1] = f.apply1(stack[sp - 1]),
                Op::Bin(op) => {
                    sp -= 1;
                    let (a, b) = (stack[sp - 1], stack[sp]);
                    stack[sp - 1] = match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b,
                        BinOp::Div => a / b,
                        BinOp::Pow => a.powf(b),
                    };
                }
                Op::Call2(f) => {
                    sp -= 1;
                    let (a, b) = (stack[sp - 1], stack[sp]);
                    stack[sp - 1] = match f {
                        Func::Pow => a.powf(b),
                        // NaN propagates: a candidate whose objective is undefined must not look good.
                        Func::Min if a.is_nan() || b.is_nan() => f64::NAN,
                        Func::Max if a.is_nan() || b.is_nan() => f64::NAN,
                        Func::Min => a.min(b),
                        Func::Max => a.max(b),
                        _ => f64::NAN,
                    };
                }
            }
        }
        stack[0]
    }
}

/// Which way a constraint compares its two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    /// `lhs <= rhs`
    Le,
    /// `lhs >= rhs`
    Ge,
    /// `lhs == rhs`, within the constraint's tolerance
    Eq,
}

/// `lhs <= rhs`, `lhs >= rhs` or `lhs == rhs`, held as `lhs - rhs` compared with zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// `lhs - rhs`.
    pub expr: Expr,
    pub kind: ConstraintKind,
    /// How far from zero `lhs - rhs` may be for an equality to hold; unused by inequalities.
    pub tolerance: f64,
}

/// The default equality tolerance, absolute.
pub const DEFAULT_EQ_TOLERANCE: f64 = 1e-6;

impl Constraint {
    /// Parses `lhs >= rhs`, `lhs <= rhs` or `lhs == rhs`; equalities get [`DEFAULT_EQ_TOLERANCE`].
    pub fn parse(src: &str) -> Result<Constraint, ExprError> {
        let mut p = Parser::new(src)?;
        let (lhs, _) = p.expr()?;
        let kind = match p.peek().kind {
            Tok::Le => ConstraintKind::Le,
            Tok::Ge => ConstraintKind::Ge,
            Tok::EqEq => ConstraintKind::Eq,
            _ => return Err(ExprError::expected("an operator, '<=', '>=' or '=='", p.peek(), src)),
        };
        p.next();
        let (rhs, _) = p.expr()?;
        p.expect_end("an operator or end of input")?;
        let root = match rhs {
            Node::Num(0.0) => lhs,
            rhs => Node::Bin(BinOp::Sub, Box::new(lhs), Box::new(rhs)),
        };
        Ok(Constraint { expr: Expr { root }, kind, tolerance: DEFAULT_EQ_TOLERANCE })
    }

    /// Replaces the equality tolerance.
    pub fn with_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance.abs();
        self
    }

    /// How far `value` (of `lhs - rhs`) is from satisfying the constraint: 0 when satisfied, positive
    /// otherwise, infinite when `value` is NaN so an undefined design is never feasible.
    pub fn violation(&self, value: f64) -> f64 {
        if value.is_nan() {
            return f64::INFINITY;
        }
        match self.kind {
            ConstraintKind::Le => value.max(0.0),
            ConstraintKind::Ge => (-value).max(0.0),
            ConstraintKind::Eq => (value.abs() - self.tolerance).max(0.0),
        }
    }

    /// Whether `value` (of `lhs - rhs`) satisfies the constraint.
    pub fn is_satisfied(&self, value: f64) -> bool {
        self.violation(value) == 0.0
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.kind {
            ConstraintKind::Le => "<=",
            ConstraintKind::Ge => ">=",
            ConstraintKind::Eq => "==",
        };
        write!(f, "{} {op} 0", self.expr)
    }
}

// ---- lexer ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    /// A backtick-quoted name: always a variable, never a constant or function.
    Quoted(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    Comma,
    Le,
    Ge,
    EqEq,
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    pos: usize,
    end: usize,
}

impl Token {
    fn describe(&self, src: &str) -> String {
        match self.kind {
            Tok::End => "end of input".to_owned(),
            _ => format!("'{}'", &src[self.pos..self.end]),
        }
    }
}

fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let single = |kind| Token { kind, pos: start, end: start + 1 };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'+' => tokens.push(single(Tok::Plus)),
            b'-' => tokens.push(single(Tok::Minus)),
            b'*' => tokens.push(single(Tok::Star)),
            b'/' => tokens.push(single(Tok::Slash)),
            b'^' => tokens.push(single(Tok::Caret)),
            b'(' => tokens.push(single(Tok::LParen)),
            b')' => tokens.push(single(Tok::RParen)),
            b',' => tokens.push(single(Tok::Comma)),
            b'<' | b'>' | b'=' => {
                if bytes.get(i + 1) != Some(&b'=') {
                    let hint = match c {
                        b'=' => "'=='",
                        b'<' => "'<=' (strict comparisons are not supported)",
                        _ => "'>=' (strict comparisons are not supported)",
                    };
                    let found = c as char;
                    return Err(ExprError::new(i, format!("expected {hint} at {i}, found '{found}'")));
                }
                let kind = match c {
                    b'<' => Tok::Le,
                    b'>' => Tok::Ge,
                    _ => Tok::EqEq,
                };
                tokens.push(Token { kind, pos: start, end: start + 2 });
                i += 2;
                continue;
            }
            b'`' => {
                let close = src[i + 1..].find('`').ok_or_else(|| {
                    ExprError::new(i, format!("expected closing '`' for the name opened at {i}, found end of input"))
                })?;
                let name = &src[i + 1..i + 1 + close];
                if name.is_empty() {
                    return Err(ExprError::new(i, format!("expected a name between backticks at {i}, found '``'")));
                }
                i += close + 2;
                tokens.push(Token { kind: Tok::Quoted(name.to_owned()), pos: start, end: i });
                continue;
            }
            b'0'..=b'9' | b'.' => {
                i = lex_number(src, i)?;
                let text = &src[start..i];
                let v: f64 = text
                    .parse()
                    .map_err(|_| ExprError::new(start, format!("expected a number at {start}, found '{text}'")))?;
                tokens.push(Token { kind: Tok::Num(v), pos: start, end: i });
                continue;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                if ch.is_alphabetic() || ch == '_' {
                    let len: usize =
                        src[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum();
                    i += len;
                    tokens.push(Token { kind: Tok::Name(src[start..i].to_owned()), pos: start, end: i });
                    continue;
                }
                return Err(ExprError::new(
                    i,
                    format!("expected a number, name, operator or parenthesis at {i}, found '{ch}'"),
                ));
            }
        }
        i += 1;
    }
    tokens.push(Token { kind: Tok::End, pos: src.len(), end: src.len() });
    Ok(tokens)
}

/// Scans `digits [. digits] [(e|E) [+|-] digits]` (at least one digit in the mantissa) and returns
/// the end offset.
fn lex_number(src: &str, start: usize) -> Result<usize, ExprError> {
    let b = src.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let found = |i: usize| match src[i..].chars().next() {
        None => "end of input".to_owned(),
        Some(c) => format!("'{c}'"),
    };
    let mut i = digits(start);
    let int_digits = i - start;
    if i < b.len() && b[i] == b'.' {
        let frac_start = i + 1;
        i = digits(frac_start);
        if int_digits == 0 && i == frac_start {
            return Err(ExprError::new(
                frac_start,
                format!("expected a digit at {frac_start}, found {}", found(frac_start)),
            ));
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let end = digits(j);
        if end == j {
            return Err(ExprError::new(j, format!("expected exponent digits at {j}, found {}", found(j))));
        }
        i = end;
    }
    // `2x` or `1.5.2` are mistakes, not implicit products.
    if let Some(c) = src[i..].chars().next() {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            return Err(ExprError::new(i, format!("expected an operator after the number at {i}, found '{c}'")));
        }
    }
    Ok(i)
}

// ---- parser ----

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    at: usize,
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, ExprError> {
        Ok(Parser { src, tokens: lex(src)?, at: 0, nesting: 0 })
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.at].clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn expect_end(&self, what: &str) -> Result<(), ExprError> {
        match self.peek().kind {
            Tok::End => Ok(()),
            Tok::Le | Tok::Ge | Tok::EqEq => {
                let t = self.peek();
                Err(ExprError::new(
                    t.pos,
                    format!(
                        "expected {what} at {}, found {} (comparisons belong in constraints)",
                        t.pos,
                        t.describe(self.src)
                    ),
                ))
            }
            _ => Err(ExprError::expected(what, self.peek(), self.src)),
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let pos = self.peek().pos;
            return Err(ExprError::new(pos, format!("expression nests deeper than {MAX_NESTING} levels at {pos}")));
        }
        Ok(())
    }

    /// Every node built goes through here, so tree height (and with it the recursion of compile,
    /// print and drop) stays bounded even for a long flat sum that never nests.
    fn node(&self, node: Node, child_height: usize, pos: usize) -> Result<(Node, usize), ExprError> {
        let height = child_height + 1;
        if height > MAX_HEIGHT {
            return Err(ExprError::new(
                pos,
                format!("expression has more than {MAX_HEIGHT} chained operations at {pos}"),
            ));
        }
        Ok((node, height))
    }

    fn expr(&mut self) -> Result<(Node, usize), ExprError> {
        let (mut lhs, mut h) = self.term()?;
        loop {
            let op = match self.peek().kind {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok((lhs, h)),
            };
            let pos = self.next().pos;
            let (rhs, hr) = self.term()?;
            (lhs, h) = self.node(Node::Bin(op, Box::new(lhs), Box::new(rhs)), h.max(hr), pos)?;
        }
    }

    fn term(&mut self) -> Result<(Node, usize), ExprError> {
        let (mut lhs, mut h) = self.unary()?;
        loop {
            let op = match self.peek().kind {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok((lhs, h)),
            };
            let pos = self.next().pos;
            let (rhs, hr) = self.unary()?;
            (lhs, h) = self.node(Node::Bin(op, Box::new(lhs), Box::new(rhs)), h.max(hr), pos)?;
        }
    }

    fn unary(&mut self) -> Result<(Node, usize), ExprError> {
        self.enter()?;
        let result = if self.peek().kind == Tok::Minus {
            let pos = self.next().pos;
            let (inner, h) = self.unary()?;
            self.node(Node::Neg(Box::new(inner)), h, pos)?
        } else {
            self.power()?
        };
        self.nesting -= 1;
        Ok(result)
    }

    fn power(&mut self) -> Result<(Node, usize), ExprError> {
        let (base, hb) = self.primary()?;
        if self.peek().kind == Tok::Caret {
            let pos = self.next().pos;
            let (exponent, he) = self.unary()?;
            return self.node(Node::Bin(BinOp::Pow, Box::new(base), Box::new(exponent)), hb.max(he), pos);
        }
        Ok((base, hb))
    }

    fn primary(&mut self) -> Result<(Node, usize), ExprError> {
        let t = self.next();
        match t.kind {
            Tok::Num(v) => Ok((Node::Num(v), 1)),
            Tok::Quoted(name) => Ok((Node::Var(name, t.pos), 1)),
            Tok::Name(name) => {
                if self.peek().kind == Tok::LParen {
                    return self.call(&name, t.pos);
                }
                let node = match name.as_str() {
                    "pi" => Node::Num(std::f64::consts::PI),
                    "e" => Node::Num(std::f64::consts::E),
                    _ => Node::Var(name, t.pos),
                };
                Ok((node, 1))
            }
            Tok::LParen => {
                let inner = self.expr()?;
                self.close_paren(t.pos, false)?;
                Ok(inner)
            }
            _ => Err(ExprError::expected("a number, name, '(' or '-'", &t, self.src)),
        }
    }

    fn close_paren(&mut self, open: usize, in_call: bool) -> Result<(), ExprError> {
        let t = self.peek();
        match t.kind {
            Tok::RParen => {
                self.next();
                Ok(())
            }
            Tok::End => Err(ExprError::new(
                t.pos,
                format!("expected ')' at {}, found end of input (the '(' at {open} is not closed)", t.pos),
            )),
            _ if in_call => Err(ExprError::expected("an operator, ',' or ')'", t, self.src)),
            _ => Err(ExprError::expected("an operator or ')'", t, self.src)),
        }
    }

    fn call(&mut self, name: &str, pos: usize) -> Result<(Node, usize), ExprError> {
        let Some(func) = Func::from_name(name) else {
            let known: Vec<&str> = FUNCS.iter().map(|(n, _)| *n).collect();
            return Err(ExprError::new(
                pos,
                format!("unknown function '{name}' at {pos}; known functions: {}", known.join(", ")),
            ));
        };
        let open = self.next().pos;
        let mut args = Vec::new();
        let mut height = 0;
        if self.peek().kind != Tok::RParen {
            loop {
                let (arg, h) = self.expr()?;
                args.push(arg);
                height = height.max(h);
                if self.peek().kind != Tok::Comma {
                    break;
                }
                self.next();
            }
        }
        self.close_paren(open, true)?;
        if let Some(wanted) = func.arity_error(args.len()) {
            return Err(ExprError::new(pos, format!("expected {wanted} to '{name}' at {pos}, found {}", args.len())));
        }
        self.node(Node::Call(func, args), height, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn eval(src: &str) -> f64 {
        Expr::parse(src).unwrap().bind::<&str>(&[]).unwrap().eval(&[])
    }

    fn eval_with(src: &str, names: &[&str], values: &[f64]) -> f64 {
        Expr::parse(src).unwrap().bind(names).unwrap().eval(values)
    }

    fn err(src: &str) -> ExprError {
        Expr::parse(src).expect_err(src)
    }

    #[test]
    fn precedence_and_associativity() {
        let cases: [(&str, f64); 22] = [
            ("1 + 2 * 3", 7.0),
            ("(1 + 2) * 3", 9.0),
            ("10 - 4 - 3", 3.0),
            ("100 / 10 / 5", 2.0),
            ("2 * 3 / 4", 1.5),
            ("8 / 2 * 4", 16.0),
            ("2 ^ 3 ^ 2", 512.0),
            ("(2 ^ 3) ^ 2", 64.0),
            ("-2 ^ 2", -4.0),
            ("(-2) ^ 2", 4.0),
            ("2 ^ -1", 0.5),
            ("2 ^ -1 ^ 2", 0.5),
            ("--3", 3.0),
            ("-3 * -2", 6.0),
            ("1 - -1", 2.0),
            ("2 * 3 ^ 2", 18.0),
            ("-2 * 3 + 1", -5.0),
            ("1 + 2 ^ 2 * 3", 13.0),
            ("6 / 3 ^ 2 * 3", 2.0),
            ("2 ^ 2 ^ -1", std::f64::consts::SQRT_2),
            (".5 + 1e-6 * 1e6", 1.5),
            ("2.5E+2 - 1E2", 150.0),
        ];
        for (src, want) in cases {
            let got = eval(src);
            assert!((got - want).abs() < 1e-12, "{src}: got {got}, want {want}");
        }
        // -x^2 is -(x^2) for variables too.
        assert_eq!(eval_with("-x^2", &["x"], &[3.0]), -9.0);
    }

    #[test]
    fn every_function_and_constant() {
        let x = 0.7;
        let cases: Vec<(&str, f64)> = vec![
            ("abs(-x)", x),
            ("sqrt(x)", x.sqrt()),
            ("exp(x)", x.exp()),
            ("ln(x)", x.ln()),
            ("log10(x)", x.log10()),
            ("sin(x)", x.sin()),
            ("cos(x)", x.cos()),
            ("tan(x)", x.tan()),
            ("pow(x, 3)", x.powi(3)),
            ("min(x)", x),
            ("min(3, x, 2)", x),
            ("max(3, x, 2)", 3.0),
            ("max(-x, -5)", -x),
            ("pi", std::f64::consts::PI),
            ("e", std::f64::consts::E),
            ("ln(e)", 1.0),
            ("cos(pi)", -1.0),
            ("`e` * 2", 2.0 * x),
            ("sqrt(pow(3, 2) + pow(4, 2))", 5.0),
        ];
        for (src, want) in cases {
            let got = eval_with(src, &["x", "e"], &[x, x]);
            assert!((got - want).abs() < 1e-12, "{src}: got {got}, want {want}");
        }
        assert!(eval("ln(-1)").is_nan());
        assert!(eval("min(1, 0/0)").is_nan());
        assert!(eval("max(0/0, 1)").is_nan());
        assert_eq!(eval("1/0"), f64::INFINITY);
    }

    #[test]
    fn quoted_names_and_variables() {
        let e = Expr::parse("2 * `Torque [Nm]` + speed_2 - `Torque [Nm]` / rpm").unwrap();
        assert_eq!(e.variables(), vec!["Torque [Nm]", "rpm", "speed_2"]);
        let c = e.bind(&["rpm", "Torque [Nm]", "speed_2"]).unwrap();
        assert_eq!(c.eval(&[2.0, 10.0, 1.0]), 2.0 * 10.0 + 1.0 - 10.0 / 2.0);
        assert_eq!(c.n_inputs(), 3);
        assert_eq!(Expr::parse("pi * e + 1").unwrap().variables(), Vec::<String>::new());
        // Unicode names lex as names, and byte offsets stay byte offsets.
        let e = Expr::parse("µ * 2 +").unwrap_err();
        assert_eq!(e.position, "µ * 2 +".len());
    }

    /// (input, position, message) for malformed inputs.
    #[test]
    fn errors_point_at_the_problem() {
        let cases: [(&str, usize, &str); 22] = [
            ("", 0, "expected a number, name, '(' or '-' at 0, found end of input"),
            ("   ", 3, "expected a number, name, '(' or '-' at 3, found end of input"),
            ("1 +", 3, "expected a number, name, '(' or '-' at 3, found end of input"),
            ("(a + b", 6, "expected ')' at 6, found end of input (the '(' at 0 is not closed)"),
            ("max(a, (b)", 10, "expected ')' at 10, found end of input (the '(' at 3 is not closed)"),
            ("max(a b)", 6, "expected an operator, ',' or ')' at 6, found 'b'"),
            ("a + b)", 5, "expected an operator or end of input at 5, found ')'"),
            ("(a b)", 3, "expected an operator or ')' at 3, found 'b'"),
            (
                "foo(1)",
                0,
                "unknown function 'foo' at 0; known functions: abs, cos, exp, ln, log10, max, min, pow, sin, sqrt, tan",
            ),
            ("1e", 2, "expected exponent digits at 2, found end of input"),
            ("1e+x", 3, "expected exponent digits at 3, found 'x'"),
            ("1 * / 2", 4, "expected a number, name, '(' or '-' at 4, found '/'"),
            ("max(1, )", 7, "expected a number, name, '(' or '-' at 7, found ')'"),
            ("1, 2", 1, "expected an operator or end of input at 1, found ','"),
            ("sqrt(1, 2)", 0, "expected 1 argument to 'sqrt' at 0, found 2"),
            ("pow(2)", 0, "expected 2 arguments to 'pow' at 0, found 1"),
            ("min()", 0, "expected at least 1 argument to 'min' at 0, found 0"),
            ("2x", 1, "expected an operator after the number at 1, found 'x'"),
            ("x >= 1", 2, "expected an operator or end of input at 2, found '>=' (comparisons belong in constraints)"),
            ("a $ b", 2, "expected a number, name, operator or parenthesis at 2, found '$'"),
            ("`Torque [Nm] * 2", 0, "expected closing '`' for the name opened at 0, found end of input"),
            (".", 1, "expected a digit at 1, found end of input"),
        ];
        for (src, pos, msg) in cases {
            let e = err(src);
            assert_eq!((e.position, e.message.as_str()), (pos, msg), "input {src:?}");
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).message.contains("nests deeper"));
        let minus = format!("{}1", "-".repeat(10_000));
        assert!(err(&minus).message.contains("nests deeper"));
        let ok = format!("{}1{}", "(".repeat(150), ")".repeat(150));
        assert_eq!(eval(&ok), 1.0);
        // Deep right-nesting needs a deeper stack than the small one; it still evaluates.
        let chain = (0..100).map(|i| format!("({i} + ")).collect::<String>() + "0" + &")".repeat(100);
        assert_eq!(eval(&chain), 4950.0);
        // A long flat sum is fine up to the height limit; past it, an error at the offending '+'.
        let sum = (0..1000).map(|i| i.to_string()).collect::<Vec<_>>().join(" + ");
        assert_eq!(eval(&sum), 499_500.0);
        let long = vec!["1"; 5000].join("+");
        let e = err(&long);
        assert_eq!(e.position, 2 * MAX_HEIGHT - 1);
        assert!(e.message.contains("chained operations"), "{}", e.message);
        // A wide min stays shallow on the stack.
        let wide = format!("min({})", (1..=1000).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
        let compiled = Expr::parse(&wide).unwrap().bind::<&str>(&[]).unwrap();
        assert!(compiled.max_depth <= 2);
        assert_eq!(compiled.eval(&[]), 1.0);
    }

    #[test]
    fn unknown_variable_at_bind_names_it_and_the_known_ones() {
        let e = Expr::parse("t * w + lenght").unwrap();
        let err = e.bind(&["t", "w", "length"]).unwrap_err();
        assert_eq!(err.position, 8);
        assert_eq!(err.message, "unknown variable 'lenght' at 8; known: t, w, length");
        let err = Expr::parse("x").unwrap().bind::<&str>(&[]).unwrap_err();
        assert_eq!(err.message, "unknown variable 'x' at 0; known: none");
        // Extra names are fine and the values follow the bind order.
        assert_eq!(eval_with("b - a", &["a", "unused", "b"], &[1.0, 100.0, 5.0]), 4.0);
    }

    #[test]
    #[should_panic(expected = "bound to 2 names evaluated with 1 values")]
    fn too_few_values_panics() {
        eval_with("a + b", &["a", "b"], &[1.0]);
    }

    /// Builds a random tree alongside the value a direct Rust computation gives, then checks that
    /// parsing its printed form and evaluating agrees, and that printing round-trips.
    #[test]
    fn random_expressions_match_direct_computation() {
        fn nmin(a: f64, b: f64) -> f64 {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        fn nmax(a: f64, b: f64) -> f64 {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        fn gen(rng: &mut ChaCha8Rng, depth: usize, vals: &[f64]) -> (String, f64) {
            let names = ["a", "b", "`c d`"];
            if depth == 0 || rng.random_bool(0.25) {
                return if rng.random_bool(0.5) {
                    let i = rng.random_range(0..3);
                    (names[i].to_owned(), vals[i])
                } else {
                    let v = (rng.random_range(0.1..10.0f64) * 100.0).round() / 100.0;
                    (format!("{v}"), v)
                };
            }
            let (l, lv) = gen(rng, depth - 1, vals);
            let (r, rv) = gen(rng, depth - 1, vals);
            match rng.random_range(0..10) {
                0 => (format!("({l} + {r})"), lv + rv),
                1 => (format!("({l} - {r})"), lv - rv),
                2 => (format!("({l} * {r})"), lv * rv),
                3 => (format!("({l} / {r})"), lv / rv),
                4 => (format!("(abs({l}) ^ 0.5)"), lv.abs().powf(0.5)),
                5 => (format!("-({l})"), -lv),
                6 => (format!("min({l}, {r}, 3)"), nmin(nmin(lv, rv), 3.0)),
                7 => (format!("max({l}, {r})"), nmax(lv, rv)),
                8 => (format!("(sin({l}) + cos({r}))"), lv.sin() + rv.cos()),
                _ => (format!("(sqrt(abs({l})) - ln(1 + abs({r})))"), lv.abs().sqrt() - (1.0 + rv.abs()).ln()),
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..500 {
            let vals = [rng.random_range(-5.0..5.0), rng.random_range(-5.0..5.0), rng.random_range(-5.0..5.0)];
            let (src, want) = gen(&mut rng, 5, &vals);
            let expr = Expr::parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
            let got = expr.bind(&["a", "b", "c d"]).unwrap().eval(&vals);
            let close = (got - want).abs() <= 1e-9 * want.abs().max(1.0) || (got.is_nan() && want.is_nan());
            assert!(close, "{src}: got {got}, want {want}");
            let reprinted = Expr::parse(&expr.to_string()).unwrap();
            assert_eq!(reprinted, strip_positions(&expr, &reprinted), "{src} printed as {expr}");
        }
    }

    /// Positions differ after reprinting; compare trees with the reprinted positions copied over.
    fn strip_positions(a: &Expr, b: &Expr) -> Expr {
        fn walk(a: &Node, b: &Node) -> Node {
            match (a, b) {
                (Node::Var(n, _), Node::Var(_, p)) => Node::Var(n.clone(), *p),
                (Node::Neg(x), Node::Neg(y)) => Node::Neg(Box::new(walk(x, y))),
                (Node::Bin(o, x1, x2), Node::Bin(_, y1, y2)) => {
                    Node::Bin(*o, Box::new(walk(x1, y1)), Box::new(walk(x2, y2)))
                }
                (Node::Call(f, xs), Node::Call(_, ys)) if xs.len() == ys.len() => {
                    Node::Call(*f, xs.iter().zip(ys).map(|(x, y)| walk(x, y)).collect())
                }
                _ => a.clone(),
            }
        }
        Expr { root: walk(&a.root, &b.root) }
    }

    #[test]
    fn display_uses_minimal_parentheses() {
        let cases = [
            ("(a - b) - (c - d)", "a - b - (c - d)"),
            ("a / (b * c)", "a / (b * c)"),
            ("(a ^ b) ^ c", "(a ^ b) ^ c"),
            ("a ^ (b ^ c)", "a ^ b ^ c"),
            ("-(a ^ 2)", "-a ^ 2"),
            ("(-a) ^ 2", "(-a) ^ 2"),
            ("a ^ -b", "a ^ -b"),
            ("-(a + b)", "-(a + b)"),
            ("`Torque [Nm]` * `e` + e", "`Torque [Nm]` * `e` + 2.718281828459045"),
            ("max(a, (b))", "max(a, b)"),
        ];
        for (src, want) in cases {
            assert_eq!(Expr::parse(src).unwrap().to_string(), want);
        }
    }

    /// `eval` takes `&self` and a slice and returns a plain f64; its operand stack is a fixed array,
    /// so a million calls allocate nothing. This test holds the signature in place and runs the calls.
    #[test]
    fn eval_is_allocation_free_by_construction() {
        let compiled =
            Expr::parse("7.85e-6 * t * w * l + max(t, w) ^ 2 - sqrt(l)").unwrap().bind(&["t", "w", "l"]).unwrap();
        let f: fn(&Compiled, &[f64]) -> f64 = Compiled::eval;
        let values = [2.0, 3.0, 4.0];
        let mut acc = 0.0;
        for i in 0..1_000_000 {
            acc += f(&compiled, &values) * (i % 2) as f64;
        }
        let one = 7.85e-6 * 24.0 + 9.0 - 2.0;
        assert!((acc - 500_000.0 * one).abs() < 1e-3 * acc.abs());
    }

    #[test]
    fn constraints_parse_and_measure_violation() {
        let c = Constraint::parse("min_wall - 0.8 >= 0").unwrap();
        assert_eq!(c.kind, ConstraintKind::Ge);
        assert_eq!(c.expr.to_string(), "min_wall - 0.8");
        let g = c.expr.bind(&["min_wall"]).unwrap();
        assert_eq!(c.violation(g.eval(&[1.0])), 0.0);
        assert!((c.violation(g.eval(&[0.5])) - 0.3).abs() < 1e-12);

        let c = Constraint::parse("mass <= 2 * limit").unwrap();
        assert_eq!(c.kind, ConstraintKind::Le);
        let g = c.expr.bind(&["mass", "limit"]).unwrap();
        assert_eq!(c.violation(g.eval(&[3.0, 2.0])), 0.0);
        assert_eq!(c.violation(g.eval(&[5.0, 2.0])), 1.0);
        assert!(c.is_satisfied(g.eval(&[4.0, 2.0])));

        let c = Constraint::parse("a + b == 1").unwrap().with_tolerance(0.01);
        assert_eq!(c.kind, ConstraintKind::Eq);
        let g = c.expr.bind(&["a", "b"]).unwrap();
        assert_eq!(c.violation(g.eval(&[0.5, 0.505])), 0.0);
        assert!((c.violation(g.eval(&[0.5, 0.3])) - 0.19).abs() < 1e-12);
        assert!((c.violation(g.eval(&[0.5, 0.7])) - 0.19).abs() < 1e-12);
        assert_eq!(c.violation(f64::NAN), f64::INFINITY);
        assert!(!c.is_satisfied(f64::NAN));
        assert_eq!(Constraint::parse("x == 0").unwrap().tolerance, DEFAULT_EQ_TOLERANCE);
        assert_eq!(Constraint::parse("-x <= -1").unwrap().to_string(), "-x - -1 <= 0");
    }

    #[test]
    fn constraint_errors() {
        let cases: [(&str, usize, &str); 6] = [
            ("x + 1", 5, "expected an operator, '<=', '>=' or '==' at 5, found end of input"),
            ("x = 1", 2, "expected '==' at 2, found '='"),
            ("x < 1", 2, "expected '<=' (strict comparisons are not supported) at 2, found '<'"),
            ("x >= ", 5, "expected a number, name, '(' or '-' at 5, found end of input"),
            (
                "0 <= x <= 1",
                7,
                "expected an operator or end of input at 7, found '<=' (comparisons belong in constraints)",
            ),
            (">= 1", 0, "expected a number, name, '(' or '-' at 0, found '>='"),
        ];
        for (src, pos, msg) in cases {
            let e = Constraint::parse(src).expect_err(src);
            assert_eq!((e.position, e.message.as_str()), (pos, msg), "input {src:?}");
        }
    }

    #[test]
    fn types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Expr>();
        check::<Compiled>();
        check::<Constraint>();
        check::<ExprError>();
    }
}
