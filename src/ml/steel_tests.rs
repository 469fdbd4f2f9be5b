//! End-to-end checks on the real steel plates faults data (UCI; 1941 plates, 27 numeric
//! features, 7 one-hot fault columns folded into one categorical `fault` column).

use crate::ml::params::VaeParams;
use crate::ml::table::{Column, ColumnKind, Table};
use crate::ml::train::{fit, Control, EpochMetrics, Observer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const CSV: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/steel-plates-faults/steel_plates_faults.csv"));
const FAULTS: [&str; 7] = ["Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults"];

/// The table, and the 27 features as rows (for the classifier).
fn steel() -> (Table, Vec<Vec<f64>>, Vec<usize>) {
    let mut lines = CSV.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<f64>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect())
        .collect();
    let n_feat = header.len() - FAULTS.len();
    assert_eq!(n_feat, 27);
    let labels: Vec<usize> =
        rows.iter().map(|r| (0..7).find(|&k| r[n_feat + k] == 1.0).expect("one fault per plate")).collect();
    let mut columns: Vec<Column> = (0..n_feat)
        .map(|j| {
            let v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            if v.iter().all(|x| x.fract() == 0.0) {
                Column::integer(header[j], v)
            } else {
                Column::continuous(header[j], v)
            }
        })
        .collect();
    columns.push(Column::categorical(
        "fault",
        labels.iter().map(|&k| Some(k as u32)).collect(),
        FAULTS.iter().map(|s| s.to_string()).collect(),
    ));
    let feats = rows.iter().map(|r| r[..n_feat].to_vec()).collect();
    (Table::new(columns), feats, labels)
}

/// k-nearest-neighbour classifier on standardised features.
struct Knn {
    mean: Vec<f64>,
    std: Vec<f64>,
    x: Vec<Vec<f64>>,
    y: Vec<usize>,
}

impl Knn {
    fn fit(x: &[Vec<f64>], y: &[usize]) -> Knn {
        let d = x[0].len();
        let n = x.len() as f64;
        let mean: Vec<f64> = (0..d).map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n).collect();
        let std: Vec<f64> =
            (0..d).map(|j| (x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt().max(1e-12)).collect();
        let z = x.iter().map(|r| (0..d).map(|j| (r[j] - mean[j]) / std[j]).collect()).collect();
        Knn { mean, std, x: z, y: y.to_vec() }
    }

    fn predict(&self, r: &[f64], k: usize) -> usize {
        let q: Vec<f64> = r.iter().enumerate().map(|(j, v)| (v - self.mean[j]) / self.std[j]).collect();
        let mut d: Vec<(f64, usize)> = self
            .x
            .iter()
            .zip(&self.y)
            .map(|(p, &y)| (p.iter().zip(&q).map(|(a, b)| (a - b).powi(2)).sum(), y))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut votes = [0usize; 7];
        d[..k].iter().for_each(|&(_, y)| votes[y] += 1);
        (0..7).max_by_key(|&c| (votes[c], std::cmp::Reverse(c))).unwrap()
    }
}

struct Losses(Vec<EpochMetrics>);

impl Observer for Losses {
    fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
        self.0.push(m.clone());
        Control::Continue
    }
}

#[test]
fn steel_plates_train_sample_and_conditional_classes_are_recognised() {
    let (table, feats, labels) = steel();
    let params = VaeParams::new()
        .hidden(vec![64, 64])
        .latent(8)
        .batch_size(64)
        .epochs(120)
        .patience(Some(15))
        .seed(11)
        .threads(2)
        .conditions(vec!["fault".into()])
        .check(&table)
        .unwrap();
    let mut obs = Losses(vec![]);
    let model = fit(&params, &table, &mut obs).unwrap();
    let h = &obs.0;
    let first = h[0].train_loss;
    let last = h.last().unwrap().train_loss;
    assert!(last < first - 5.0, "training loss falls: {first} -> {last}");
    assert!(h.iter().all(|m| m.val_loss.unwrap().is_finite()), "validation ELBO finite");

    // samples keep names, kinds and observed bounds; integers stay whole
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let s = model.sample(500, 1.0, &[], &mut rng).unwrap();
    for (real, fake) in table.columns.iter().zip(&s.columns) {
        assert_eq!((&real.name, real.kind), (&fake.name, fake.kind));
        if let (Some(r), Some(f)) = (real.numeric(), fake.numeric()) {
            let lo = r.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            assert!(f.iter().all(|v| (lo..=hi).contains(v)), "{} within [{lo}, {hi}]", real.name);
            if real.kind == ColumnKind::Integer {
                assert!(f.iter().all(|v| v.fract() == 0.0), "{} integral", real.name);
            }
        }
    }

    // class-conditional samples are recognised as their class by a classifier of real rows
    let knn = Knn::fit(&feats, &labels);
    let per_class = 100;
    let mut correct = [0usize; 7];
    for (c, name) in FAULTS.iter().enumerate() {
        let s = model.sample(per_class, 1.0, &[("fault", name)], &mut rng).unwrap();
        let fc = s.column("fault").unwrap().codes().unwrap().0;
        assert!(fc.iter().all(|&k| k == Some(c as u32)), "condition column holds the asked class");
        let cols: Vec<&[f64]> = s.columns.iter().filter_map(|c| c.numeric()).collect();
        assert_eq!(cols.len(), 27);
        for r in 0..per_class {
            let row: Vec<f64> = cols.iter().map(|c| c[r]).collect();
            correct[c] += usize::from(knn.predict(&row, 5) == c);
        }
    }
    let acc: Vec<f64> = correct.iter().map(|&k| k as f64 / per_class as f64).collect();
    let mean = acc.iter().sum::<f64>() / 7.0;
    eprintln!("epochs run {}, best {}", model.summary().epochs_run, model.summary().best_epoch);
    eprintln!("per-class recognition {acc:?}, mean {mean:.3} (chance 0.143)");
    assert!(mean > 3.0 / 7.0, "mean recognition {mean:.3} should be at least 3x chance; per class {acc:?}");
    assert!(acc.iter().filter(|&&a| a > 1.0 / 7.0).count() >= 6, "most classes above chance: {acc:?}");
}
