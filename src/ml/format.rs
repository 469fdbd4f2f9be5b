//! Model and checkpoint files: safetensors weights (f32, little endian) plus JSON metadata.
//! The layout is documented in `docs/model-format.md`; bump `FORMAT_VERSION` on any change.

use crate::ml::adam::Adam;
use crate::ml::error::VaeError;
use crate::ml::fitted::FittedVae;
use crate::ml::params::VaeParams;
use crate::ml::train::{Checkpoint, EpochMetrics, RngState, TrainSummary};
use crate::ml::transform::TableTransform;
use crate::ml::vae::{Net, NetSpec};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Value of the `format` metadata key of a model file.
pub const FORMAT: &str = "genfab-vae";
/// Value of the `format` metadata key of a checkpoint file.
pub const CHECKPOINT_FORMAT: &str = "genfab-vae-checkpoint";
/// Version of the file layout.
pub const FORMAT_VERSION: u32 = 1;

/// Everything about a model except its weights (the `genfab` JSON of the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format: String,
    pub format_version: u32,
    /// Network sizes and parameter offsets.
    pub network: NetSpec,
    /// Training parameters (the spec of the run).
    pub params: VaeParams,
    /// Column transforms and likelihood heads.
    pub transform: TableTransform,
    pub training: TrainSummary,
    pub dataset_sha256: Option<String>,
    pub seed: u64,
}

fn fmt_err(e: impl std::fmt::Display) -> VaeError {
    VaeError::Format(e.to_string())
}

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Named tensors of a network: `encoder.{i}.weight` `[n_in, n_out]`, `encoder.{i}.bias`,
/// the same for `decoder`, and `log_sigma`.
fn named_tensors(spec: &NetSpec, p: &[f32], prefix: &str) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let mut out = vec![];
    for (part, mlp) in [("encoder", &spec.encoder), ("decoder", &spec.decoder)] {
        for (i, l) in mlp.layers.iter().enumerate() {
            let w = l.offset..l.offset + l.n_in * l.n_out;
            let b = w.end..w.end + l.n_out;
            out.push((format!("{prefix}{part}.{i}.weight"), vec![l.n_in, l.n_out], le_bytes(&p[w])));
            out.push((format!("{prefix}{part}.{i}.bias"), vec![l.n_out], le_bytes(&p[b])));
        }
    }
    out.push((format!("{prefix}log_sigma"), vec![spec.n_gauss], le_bytes(&p[spec.log_sigma_offset..])));
    out
}

fn read_network(st: &SafeTensors, spec: &NetSpec, prefix: &str) -> Result<Vec<f32>, VaeError> {
    let mut p = vec![0f32; spec.n_params];
    let mut fill = |name: String, shape: Vec<usize>, at: usize| -> Result<(), VaeError> {
        let t = st.tensor(&name).map_err(|e| fmt_err(format!("{name}: {e}")))?;
        if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
            return Err(fmt_err(format!("{name}: expected F32 {shape:?}, found {:?} {:?}", t.dtype(), t.shape())));
        }
        for (i, c) in t.data().chunks_exact(4).enumerate() {
            p[at + i] = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    };
    for (part, mlp) in [("encoder", &spec.encoder), ("decoder", &spec.decoder)] {
        for (i, l) in mlp.layers.iter().enumerate() {
            fill(format!("{prefix}{part}.{i}.weight"), vec![l.n_in, l.n_out], l.offset)?;
            fill(format!("{prefix}{part}.{i}.bias"), vec![l.n_out], l.offset + l.n_in * l.n_out)?;
        }
    }
    fill(format!("{prefix}log_sigma"), vec![spec.n_gauss], spec.log_sigma_offset)?;
    Ok(p)
}

fn read_flat(st: &SafeTensors, name: &str, n: usize) -> Result<Vec<f32>, VaeError> {
    let t = st.tensor(name).map_err(|e| fmt_err(format!("{name}: {e}")))?;
    if t.dtype() != Dtype::F32 || t.shape() != [n] {
        return Err(fmt_err(format!("{name}: expected F32 [{n}]")));
    }
    Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn serialize(tensors: &[(String, Vec<usize>, Vec<u8>)], meta: HashMap<String, String>) -> Result<Vec<u8>, VaeError> {
    let views = tensors
        .iter()
        .map(|(n, s, d)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), d).map_err(fmt_err)?)))
        .collect::<Result<Vec<_>, VaeError>>()?;
    safetensors::serialize(views, Some(meta)).map_err(fmt_err)
}

fn file_meta(bytes: &[u8]) -> Result<HashMap<String, String>, VaeError> {
    let (_, m) = SafeTensors::read_metadata(bytes).map_err(fmt_err)?;
    Ok(m.metadata().clone().unwrap_or_default())
}

fn expect_format(meta: &HashMap<String, String>, format: &str) -> Result<(), VaeError> {
    let f = meta.get("format").map(String::as_str).unwrap_or("");
    if f != format {
        return Err(fmt_err(format!("not a {format} file (format '{f}')")));
    }
    let v: u32 = meta.get("format_version").and_then(|v| v.parse().ok()).unwrap_or(0);
    if v != FORMAT_VERSION {
        return Err(fmt_err(format!("format version {v} is not supported (this build reads {FORMAT_VERSION})")));
    }
    Ok(())
}

fn base_meta(format: &str) -> HashMap<String, String> {
    HashMap::from([("format".into(), format.into()), ("format_version".into(), FORMAT_VERSION.to_string())])
}

impl FittedVae {
    /// The metadata that goes with the weights.
    pub fn metadata(&self) -> ModelMetadata {
        ModelMetadata {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            network: self.net.spec.clone(),
            params: self.params.clone(),
            transform: self.transform.clone(),
            training: self.summary.clone(),
            dataset_sha256: self.dataset_sha256.clone(),
            seed: self.params.seed,
        }
    }

    /// Weights as safetensors bytes (with only `format`/`format_version` in `__metadata__`)
    /// and the metadata separately, e.g. for a `jsonb` column next to a `bytea` blob.
    pub fn save(&self) -> Result<(Vec<u8>, ModelMetadata), VaeError> {
        let t = named_tensors(&self.net.spec, &self.net.params, "");
        Ok((serialize(&t, base_meta(FORMAT))?, self.metadata()))
    }

    /// The inverse of `save`.
    pub fn load(weights: &[u8], meta: ModelMetadata) -> Result<FittedVae, VaeError> {
        if meta.format != FORMAT || meta.format_version != FORMAT_VERSION {
            return Err(fmt_err(format!("unsupported metadata {} v{}", meta.format, meta.format_version)));
        }
        let st = SafeTensors::deserialize(weights).map_err(fmt_err)?;
        let params = read_network(&st, &meta.network, "")?;
        let net = Net { spec: meta.network, params };
        Ok(FittedVae {
            net,
            transform: meta.transform,
            params: meta.params,
            summary: meta.training,
            dataset_sha256: meta.dataset_sha256,
        })
    }

    /// One self-contained `.safetensors` file: weights plus the metadata JSON under the
    /// `genfab` key of `__metadata__`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, VaeError> {
        let t = named_tensors(&self.net.spec, &self.net.params, "");
        let mut m = base_meta(FORMAT);
        m.insert("genfab".into(), serde_json::to_string(&self.metadata()).map_err(fmt_err)?);
        serialize(&t, m)
    }

    /// Reads a file written by `to_bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<FittedVae, VaeError> {
        let m = file_meta(bytes)?;
        expect_format(&m, FORMAT)?;
        let json = m.get("genfab").ok_or_else(|| fmt_err("no 'genfab' metadata"))?;
        let meta: ModelMetadata = serde_json::from_str(json).map_err(fmt_err)?;
        FittedVae::load(bytes, meta)
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    network: NetSpec,
    epoch: usize,
    adam_t: u64,
    lr: f64,
    rng: RngState,
    best_loss: f64,
    best_epoch: usize,
    bad_epochs: usize,
    seconds: f64,
    history: Vec<EpochMetrics>,
    run_key: String,
}

impl Checkpoint {
    /// A `.safetensors` file: current weights, best weights (`best.` prefix), Adam moments
    /// (`adam.m`, `adam.v`) and the rest as JSON under `genfab`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, VaeError> {
        let spec = self.network.clone();
        let mut t = named_tensors(&spec, &self.params, "");
        t.extend(named_tensors(&spec, &self.best_params, "best."));
        t.push(("adam.m".into(), vec![self.adam.m.len()], le_bytes(&self.adam.m)));
        t.push(("adam.v".into(), vec![self.adam.v.len()], le_bytes(&self.adam.v)));
        let meta = CheckpointMeta {
            network: spec,
            epoch: self.epoch,
            adam_t: self.adam.t,
            lr: self.adam.lr,
            rng: self.rng,
            best_loss: self.best_loss,
            best_epoch: self.best_epoch,
            bad_epochs: self.bad_epochs,
            seconds: self.seconds,
            history: self.history.clone(),
            run_key: self.run_key.clone(),
        };
        let mut m = base_meta(CHECKPOINT_FORMAT);
        m.insert("genfab".into(), serde_json::to_string(&meta).map_err(fmt_err)?);
        serialize(&t, m)
    }

    /// Reads a checkpoint written by `to_bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, VaeError> {
        let m = file_meta(bytes)?;
        expect_format(&m, CHECKPOINT_FORMAT)?;
        let meta: CheckpointMeta =
            serde_json::from_str(m.get("genfab").ok_or_else(|| fmt_err("no 'genfab' metadata"))?).map_err(fmt_err)?;
        let st = SafeTensors::deserialize(bytes).map_err(fmt_err)?;
        let n = meta.network.n_params;
        let mut adam = Adam::new(n, meta.lr);
        adam.t = meta.adam_t;
        adam.m = read_flat(&st, "adam.m", n)?;
        adam.v = read_flat(&st, "adam.v", n)?;
        Ok(Checkpoint {
            epoch: meta.epoch,
            params: read_network(&st, &meta.network, "")?,
            best_params: read_network(&st, &meta.network, "best.")?,
            network: meta.network,
            adam,
            rng: meta.rng,
            best_loss: meta.best_loss,
            best_epoch: meta.best_epoch,
            bad_epochs: meta.bad_epochs,
            seconds: meta.seconds,
            history: meta.history,
            run_key: meta.run_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::fitted::tests::toy_table;
    use crate::ml::params::VaeParams;
    use crate::ml::train::{fit, NoObserver};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn model_round_trips_through_both_file_forms() {
        let t = toy_table(200, 5);
        let p = VaeParams::new().hidden(vec![8]).latent(2).epochs(2).batch_size(50).check(&t).unwrap();
        let m = fit(&p, &t, &mut NoObserver).unwrap().with_dataset_sha256("ab12");
        let bytes = m.to_bytes().unwrap();
        let back = FittedVae::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        let (w, meta) = m.save().unwrap();
        assert_eq!(meta.dataset_sha256.as_deref(), Some("ab12"));
        let json = serde_json::to_string(&meta).unwrap();
        let back2 = FittedVae::load(&w, serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back2, m);
        let s1 = m.sample(20, 1.0, &[], &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let s2 = back.sample(20, 1.0, &[], &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(format!("{s1:?}"), format!("{s2:?}"));
        // the tensors a Python reader sees
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let w0 = st.tensor("encoder.0.weight").unwrap();
        assert_eq!(w0.shape(), [m.transform().n_x, 8]);
        assert_eq!(st.tensor("decoder.1.weight").unwrap().shape(), [8, m.transform().n_x]);
        // a checkpoint is not a model
        assert!(matches!(FittedVae::from_bytes(b"garbage"), Err(VaeError::Format(_))));
    }
}
