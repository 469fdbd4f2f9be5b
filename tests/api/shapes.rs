//! Part shapes over HTTP and the command line: a NACA 4-digit family (data/naca4, generated from
//! the published equations) uploaded, checked, drawn, learnt by a VAE, sampled, interpolated and
//! optimised for lift with the panel method in the model's latent space; bad profiles refused
//! by shape, point or line with nothing stored.

use crate::helpers::{assert_problem, data_file, spawn_app, spawn_worker_app, Backend, TestApp};
use crate::on_both_stores;
use serde_json::{json, Value};

async fn upload_form(
    app: &TestApp,
    query: &str,
    files: Vec<(&str, Vec<u8>)>,
    attributes: Option<Vec<u8>>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    }
    if let Some(a) = attributes {
        form = form.part("attributes", reqwest::multipart::Part::bytes(a).file_name("attributes.csv"));
    }
    app.client
        .post(app.url(&format!("/api/v1/shapes?{query}")))
        .bearer_auth(&app.admin)
        .multipart(form)
        .send()
        .await
        .expect("request sent")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The whole loop the issue asks for, on both stores.
async fn a_family_is_uploaded_learnt_sampled_drawn_and_optimised_for_lift(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let profiles = data_file("naca4/profiles.csv");
    let attributes = data_file("naca4/attributes.csv");
    let n_profiles = String::from_utf8_lossy(&attributes).lines().count() - 1;
    let r = upload_form(&app, "name=naca4", vec![("profiles.csv", profiles)], Some(attributes)).await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    let ds = d["id"].as_i64().unwrap();
    assert_eq!(d["row_count"], n_profiles);
    assert_eq!(d["shapes"]["points"], 65);
    assert_eq!(d["shapes"]["frame"], "chord");
    assert_eq!(d["version"]["source"], "shapes");
    // every stored outline is valid, and NACA 0012 measures as published (t = 0.12 at x = 0.30)
    let (s, all) = app.get_json(&format!("/api/v1/datasets/{ds}/shapes?limit=500")).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["valid_share"], 1.0);
    let shapes = all["shapes"].as_array().unwrap();
    assert_eq!(shapes.len(), n_profiles);
    let n0012 = shapes.iter().find(|s| s["label"] == "naca0012").expect("naca0012 in the family");
    assert_eq!(n0012["points"].as_array().unwrap().len(), 65);
    assert!((f(&n0012["measures"]["thickness"]) - 0.12).abs() < 0.003, "{}", n0012["measures"]);
    assert!((f(&n0012["measures"]["thickness_x"]) - 0.30).abs() < 0.02, "{}", n0012["measures"]);
    assert!(f(&n0012["measures"]["camber"]).abs() < 1e-3);
    // drawn as SVG
    let r = app
        .client
        .get(app.url(&format!("/api/v1/datasets/{ds}/shapes.svg?limit=12&columns=4")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let svg = r.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("naca"), "{}", &svg[..200.min(svg.len())]);
    assert_eq!(svg.matches("<path").count(), 12);

    // a VAE of the outlines (continuous columns standardised; shapes are smooth, not multimodal)
    let spec = json!({"epochs": 400, "hidden": [64, 64], "latent": 4, "batch_size": 32, "patience": 40,
                      "threads": 1, "seed": 1, "continuous": "Standard", "learning_rate": 0.003});
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 202);
    let model = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let m = app
        .wait_until(&format!("/api/v1/models/{model}"), 600, |m| m["status"] != "queued" && m["status"] != "training")
        .await;
    assert_eq!(m["status"], "ready", "{m}");

    // the dashboard draws the family and the model's shapes
    let cookie = crate::web::sign_in(&app, &app.admin).await;
    let (s, page) = crate::web::get_page(&app, &cookie, &format!("/datasets/{ds}")).await;
    assert_eq!(s, 200);
    assert!(page.contains("<h2>Shapes</h2>") && page.matches("<path").count() >= 24, "dataset page without its shapes");
    assert!(!page.contains("x000 (histogram)"), "coordinates are drawn as outlines, not histograms");
    let (s, page) = crate::web::get_page(&app, &cookie, &format!("/models/{model}")).await;
    assert_eq!(s, 200);
    assert!(page.contains("Generated shapes") && page.contains("12 of them valid"), "model page without its shapes");

    // samples: most are valid outlines, and they are as smooth as the data
    let r = app.post_json(&format!("/api/v1/models/{model}/shapes"), &json!({"n": 200, "seed": 7})).await;
    assert_eq!(r.status().as_u16(), 200);
    let g: Value = r.json().await.unwrap();
    assert_eq!(g["count"], 200);
    let share = f(&g["valid_share"]);
    let rough = |v: &[Value]| {
        let mut r: Vec<f64> = v.iter().map(|s| f(&s["measures"]["roughness"])).filter(|r| r.is_finite()).collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    let data_rough = rough(shapes);
    let sample_rough = rough(g["shapes"].as_array().unwrap());
    eprintln!("shapes: valid share of 200 samples {share:.3}; median roughness data {data_rough:.2e}, samples {sample_rough:.2e}");
    assert!(share >= 0.9, "valid share {share}");
    // roughness reads the RMS distance of each point from the smooth curve through its neighbours,
    // in chord: generated outlines stay well inside 0.1 % of chord (a typical profile tolerance)
    assert!(sample_rough < 1e-3, "samples are rough: {sample_rough} (data {data_rough})");
    // the same draws projected on the family's principal modes (99.9 % of its variance)
    let r =
        app.post_json(&format!("/api/v1/models/{model}/shapes"), &json!({"n": 200, "seed": 7, "smooth": true})).await;
    assert_eq!(r.status().as_u16(), 200);
    let smooth: Value = r.json().await.unwrap();
    let smooth_rough = rough(smooth["shapes"].as_array().unwrap());
    eprintln!(
        "shapes: smoothed by {} modes ({:.4} of the variance): valid share {}, median roughness {smooth_rough:.2e}",
        smooth["modes"]["count"],
        f(&smooth["modes"]["explained"]),
        smooth["valid_share"]
    );
    assert!(smooth_rough <= sample_rough, "{smooth_rough} vs {sample_rough}");
    assert!(smooth["modes"]["count"].as_u64().unwrap() >= 2);
    // an interpolation strip and a traversal
    let r = app
        .post_json(
            &format!("/api/v1/models/{model}/shapes"),
            &json!({"interpolate": {"from": "naca0012", "to": "naca6412"}, "n": 6, "format": "svg"}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let strip = r.text().await.unwrap();
    assert_eq!(strip.matches("<path").count(), 6, "{strip}");
    assert!(strip.contains("t=0.00") && strip.contains("t=1.00"));
    let r = app.post_json(&format!("/api/v1/models/{model}/shapes"), &json!({"traverse": {"dim": 1}, "n": 5})).await;
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["count"], 5, "{t}");
    let p = assert_problem(
        app.post_json(
            &format!("/api/v1/models/{model}/shapes"),
            &json!({"interpolate": {"from": "naca0012", "to": "nope"}}),
        )
        .await,
        400,
        &["nope"],
    )
    .await;
    assert_eq!(p["field"], "interpolate.to");

    // a model conditioned on an attribute: thin sections on request, thick ones on request
    let kinds: String = String::from_utf8(data_file("naca4/attributes.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{l},kind\n"),
            _ => {
                let t: f64 = l.split(',').nth(3).unwrap().parse().unwrap();
                format!("{l},{}\n", if t <= 0.12 { "thin" } else { "thick" })
            }
        })
        .collect();
    let r = upload_form(
        &app,
        "name=naca4-kinds",
        vec![("profiles.csv", data_file("naca4/profiles.csv"))],
        Some(kinds.into_bytes()),
    )
    .await;
    assert_eq!(r.status().as_u16(), 201);
    let kinds_ds = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let mut spec = spec.clone();
    spec["conditions"] = json!(["kind"]);
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": kinds_ds, "spec": spec})).await;
    let cond = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let m = app
        .wait_until(&format!("/api/v1/models/{cond}"), 600, |m| m["status"] != "queued" && m["status"] != "training")
        .await;
    assert_eq!(m["status"], "ready", "{m}");
    let median_thickness = |kind: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post_json(
                    &format!("/api/v1/models/{cond}/shapes"),
                    &json!({"n": 40, "seed": 3, "conditions": {"kind": kind}}),
                )
                .await;
            let g: Value = r.json().await.unwrap();
            let mut c: Vec<f64> =
                g["shapes"].as_array().unwrap().iter().map(|s| f(&s["measures"]["thickness"])).collect();
            c.sort_by(f64::total_cmp);
            (c[c.len() / 2], f(&g["valid_share"]))
        }
    };
    // the family's thin sections are 6-12 % thick, its thick ones 15-24 %; the condition steers the
    // outlines (prior draws still carry thickness in the latent point, so it does not confine them)
    let (thin, v1) = median_thickness("thin").await;
    let (thick, v2) = median_thickness("thick").await;
    eprintln!("shapes: conditioned median thickness: thin {thin:.4} (valid {v1}), thick {thick:.4} (valid {v2})");
    assert!(thick - thin > 0.02, "thin {thin}, thick {thick}");
    let p = assert_problem(
        app.post_json(&format!("/api/v1/models/{cond}/shapes"), &json!({"conditions": {"kind": "wavy"}})).await,
        400,
        &["wavy"],
    )
    .await;
    assert_eq!(p["field"], "conditions.kind");

    // the best lift at 4 degrees in the training family, among sections thicker than 10 % of chord
    let alpha = 4.0_f64;
    let mut best_data = f64::NEG_INFINITY;
    for s in shapes {
        let pts: Vec<[f64; 2]> = s["points"].as_array().unwrap().iter().map(|p| [f(&p[0]), f(&p[1])]).collect();
        if f(&s["measures"]["thickness"]) >= 0.10 && f(&s["measures"]["area"]) >= 0.06 {
            best_data = best_data.max(genfab::shapes::panel::solve(&pts, alpha.to_radians()).unwrap().cl);
        }
    }
    // a lift-maximising study in the latent space, under the same thickness and area limits
    let spec = json!({
        "latent": {"model_id": model, "k": 2.5},
        "shape": {"alpha_deg": alpha},
        "objectives": [{"name": "lift", "expr": "cl", "goal": "maximize"}],
        "constraints": [{"name": "thick", "expr": "thickness >= 0.10"}, {"name": "area", "expr": "area >= 0.06"},
                        {"name": "valid", "expr": "valid >= 1"}]
    });
    let r = app.post_json("/api/v1/studies", &json!({"name": "lift", "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = app
        .post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "nsga2", "budget": 400, "seed": 2}))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let rid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = app
        .wait_until(&format!("/api/v1/runs/{rid}"), 600, |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        })
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (_, page) = app.get_json(&format!("/api/v1/runs/{rid}/candidates?limit=1000")).await;
    let cands = page["items"].as_array().unwrap();
    let valid = cands.iter().filter(|c| c["design"]["valid"] == 1.0).count();
    let best = cands
        .iter()
        .filter(|c| c["feasible"] == true)
        .max_by(|a, b| f(&a["objectives"]["lift"]).total_cmp(&f(&b["objectives"]["lift"])))
        .expect("a feasible candidate");
    let best_lift = f(&best["objectives"]["lift"]);
    eprintln!(
        "shapes: study valid share {:.3} of {}; best lift {best_lift:.4} (thickness {:.4}, area {:.4}) vs the data's best {best_data:.4}",
        valid as f64 / cands.len() as f64,
        cands.len(),
        f(&best["design"]["thickness"]),
        f(&best["design"]["area"])
    );
    assert!(f(&best["design"]["thickness"]) >= 0.10 && f(&best["design"]["area"]) >= 0.06);
    assert_eq!(best["design"]["valid"], 1.0);
    // the study finds a section at least nearly as good as the best one made (lift from the same panel method)
    assert!(best_lift >= 0.9 * best_data, "study {best_lift} vs data {best_data}");
}

/// A refused upload: query, content type, body, status, words the detail must hold.
type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, Vec<&'a str>);

/// Profiles that are not valid are refused with what is wrong and where; nothing is stored.
async fn bad_profiles_are_refused_by_shape_point_and_line(backend: Backend) {
    let app = spawn_app(backend).await;
    // a square with midpoints, explicitly closed: 9 rows
    let square = "shape_id,x,y\nsq,0,0\nsq,0.5,0\nsq,1,0\nsq,1,0.5\nsq,1,1\nsq,0.5,1\nsq,0,1\nsq,0,0.5\nsq,0,0\n";
    let good = || {
        let mut s = String::from("shape_id,x,y\n");
        for i in 0..=40 {
            let t = i as f64 / 40.0 * std::f64::consts::TAU;
            s.push_str(&format!("c,{},{}\n", t.cos(), t.sin()));
        }
        s
    };
    let post = |q: &'static str, ct: &'static str, body: Vec<u8>| {
        let app = &app;
        async move { app.post_body(&format!("/api/v1/shapes?{q}"), ct, body, &app.admin).await }
    };
    let cases: Vec<Case> = vec![
        ("name=a", "text/csv", b"shape_id,x,y\na,0,0\na,1,zz\n".to_vec(), 422, vec!["line 3", "zz"]),
        ("name=a", "text/csv", b"id,x,y\na,0,0\n".to_vec(), 422, vec!["shape_id"]),
        ("name=a", "text/csv", b"shape_id,x,y\na,0,0\na,1,0\na,1,1\n".to_vec(), 422, vec!["'a'", "points"]),
        (
            "name=a&frame=bbox",
            "text/csv",
            square.replace("sq,1,1\n", "sq,1,1\nsq,1,1\n").into_bytes(),
            422,
            vec!["'sq'", "point 5"],
        ),
        (
            "name=a&frame=bbox",
            "text/csv",
            square.replace("sq,1,1\nsq,0.5,1\nsq,0,1\n", "sq,0,1\nsq,0.5,1\nsq,1,1\n").into_bytes(),
            422,
            vec!["'sq'", "intersect"],
        ),
        (
            "name=a&frame=bbox",
            "text/csv",
            square.trim_end().rsplit_once('\n').unwrap().0.as_bytes().to_vec(),
            422,
            vec!["'sq'", "open outline"],
        ),
        (
            "name=a&frame=bbox",
            "text/csv",
            good().replacen("c,1,0", "c,NaN,0", 1).into_bytes(),
            422,
            vec!["line 2", "NaN"],
        ),
        (
            "name=a&frame=bbox",
            "text/csv",
            format!("{}{}", good(), "d,0,0\n").replace("shape_id,x,y\n", "shape_id,x,y\nd,5,5\n").into_bytes(),
            422,
            vec!["'d'", "line 44", "not together"],
        ),
        ("name=a&frame=triangle", "text/csv", good().into_bytes(), 400, vec!["triangle"]),
        ("name=a&points=64", "text/csv", good().into_bytes(), 400, vec!["odd"]),
        ("name=a&points=5000", "text/csv", good().into_bytes(), 400, vec!["points"]),
        ("name=a&frame=bbox&spacing=cosine", "text/csv", good().into_bytes(), 400, vec!["cosine"]),
        ("", "text/csv", good().into_bytes(), 400, vec!["name"]),
        ("name=a", "application/x-yaml", good().into_bytes(), 415, vec!["x-yaml"]),
        ("name=a", "application/zip", b"PK not a zip".to_vec(), 422, vec!["zip"]),
        (
            "name=a",
            "image/svg+xml",
            br#"<svg><path transform="scale(2)" d="M0 0 L1 0 L1 1 Z"/></svg>"#.to_vec(),
            422,
            vec!["transform"],
        ),
        ("name=a", "text/csv", vec![0xff, 0xfe, 0x00], 422, vec!["UTF-8"]),
    ];
    for (q, ct, body, status, needles) in cases {
        let r = post(q, ct, body.clone()).await;
        let got = r.status().as_u16();
        let p: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{q} {}: {p}", String::from_utf8_lossy(&body));
        let detail = p["detail"].as_str().unwrap_or("");
        eprintln!("{q}: {detail}");
        for n in needles {
            assert!(detail.contains(n), "{q}: {detail:?} lacks {n:?}");
        }
    }
    // attributes that do not join
    let cases: Vec<(&str, &str)> = vec![
        ("shape_id,cl\nc,0.5\nzz,0.7\n", "'zz' is not among the profiles"),
        ("shape_id,cl\nc,0.5\nc,0.7\n", "second row"),
        ("shape_id,x001\nc,0.5\n", "x001"),
        ("name,cl\nc,0.5\n", "shape_id"),
    ];
    for (attrs, needle) in cases {
        let r = upload_form(
            &app,
            "name=a&frame=bbox",
            vec![("c.csv", good().into_bytes())],
            Some(attrs.as_bytes().to_vec()),
        )
        .await;
        assert_problem(r, 422, &[needle]).await;
    }
    // a form without files, a file of an unknown kind, a .dat without numbers
    let r = upload_form(&app, "name=a", vec![], Some(b"shape_id\n".to_vec())).await;
    assert_problem(r, 400, &["file"]).await;
    let r = upload_form(&app, "name=a", vec![("x.xlsx", b"abc".to_vec())], None).await;
    assert_problem(r, 422, &[".xlsx"]).await;
    let r = upload_form(&app, "name=a", vec![("w.dat", b"WING\n1.0 0.0\n0.5 abc\n".to_vec())], None).await;
    assert_problem(r, 422, &["line 3"]).await;
    // a viewer may not upload
    let viewer = app.token("viewer").await;
    let r = app.post_body("/api/v1/shapes?name=v", "text/csv", good(), &viewer).await;
    assert_problem(r, 403, &[]).await;
    // nothing was stored
    let (_, list) = app.get_json("/api/v1/datasets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");

    // a good family, then the same name again; and a table that is not a family
    let r = app.post_body("/api/v1/shapes?name=circle&frame=bbox&points=32", "text/csv", good(), &app.admin).await;
    assert_eq!(r.status().as_u16(), 201);
    let r = app.post_body("/api/v1/shapes?name=circle&frame=bbox&points=32", "text/csv", good(), &app.admin).await;
    assert_problem(r, 409, &["circle"]).await;
    let plain = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let r = app
        .client
        .get(app.url(&format!("/api/v1/datasets/{plain}/shapes")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, &["not a shape family"]).await;
    let (s, v) = app.get_json("/api/v1/datasets/99999/shapes").await;
    assert_eq!(s, 404, "{v}");
}

/// `genfab shapes upload` sends a folder of .dat files (Selig and Lednicer) to a running server;
/// `genfab shapes naca` reproduces the committed development family.
async fn the_command_line_uploads_a_folder_of_dat_files(backend: Backend) {
    let app = spawn_app(backend).await;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/naca4/dat");
    let (address, token, folder) = (app.address.clone(), app.admin.clone(), dir.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_genfab"))
            .args(["shapes", "upload", "--url", &address, "--name", "dat-family", "--points", "81"])
            .arg(&folder)
            .env("GENFAB_TOKEN", &token)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["shapes"]["points"], 81);
    let n_files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(d["row_count"], n_files);
    let (_, all) = app.get_json(&format!("/api/v1/datasets/{}/shapes?units=user", d["id"])).await;
    assert_eq!(all["valid_share"], 1.0, "{all}");
    // the Lednicer file reads the same section as the published equations give (computed here
    // with genfab's generator, normalised and measured the same way)
    use genfab::shapes::{measure, naca, normalise};
    let settings =
        normalise::Settings { frame: normalise::Frame::Chord, spacing: normalise::Spacing::Cosine, points: 81 };
    let section =
        genfab::shapes::Profile { id: "naca4415".into(), points: naca::four_digit(0.04, 0.4, 0.15, 41, false) };
    let expected = measure::of(&normalise::apply(&section, &settings).unwrap().0);
    let n4415 = all["shapes"].as_array().unwrap().iter().find(|s| s["label"] == "naca4415").expect("naca4415");
    for (name, want) in [("thickness", expected.thickness), ("camber", expected.camber), ("area", expected.area)] {
        assert!((f(&n4415["measures"][name]) - want).abs() < 2e-4, "{name}: {} vs {want}", n4415["measures"]);
    }
    assert!((expected.thickness - 0.15).abs() < 0.001, "{expected:?}");
    // in the user's units the outline is the file's: unit chord, leading edge at the origin
    let pts = n4415["points"].as_array().unwrap();
    let x_min = pts.iter().map(|p| f(&p[0])).fold(f64::INFINITY, f64::min);
    let x_max = pts.iter().map(|p| f(&p[0])).fold(f64::NEG_INFINITY, f64::max);
    assert!(x_min.abs() < 2e-3 && (x_max - 1.0).abs() < 2e-3, "{x_min} {x_max}");

    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_genfab"))
        .args(["shapes", "naca", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(tmp.path().join("profiles.csv")).unwrap(), data_file("naca4/profiles.csv"));
    assert_eq!(std::fs::read(tmp.path().join("attributes.csv")).unwrap(), data_file("naca4/attributes.csv"));
    // a bad file is refused by the offline check, naming it
    let bad = tmp.path().join("bad.dat");
    std::fs::write(&bad, "BAD\n1 0\n0.5 0.1\n0 0\n0.5 -0.1\n1 0\n").unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_genfab")).args(["shapes", "check"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'bad'"), "{}", String::from_utf8_lossy(&out.stderr));
}

on_both_stores!(
    a_family_is_uploaded_learnt_sampled_drawn_and_optimised_for_lift,
    bad_profiles_are_refused_by_shape_point_and_line,
    the_command_line_uploads_a_folder_of_dat_files,
);
