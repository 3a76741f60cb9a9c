//! nomoat-backend: the seam between models and compute.
//!
//! A model's forward pass is written once, as coarse operations on a [`Backend`] (embedding
//! lookup, matmul against a backend-owned weight, norms, RoPE, attention over a paged KV view,
//! gated activations, elementwise ops, MoE top-k routing, logits). The backend owns everything
//! that depends on the hardware: weight storage (mapped, repacked or uploaded), activation memory
//! ([`Workspace`]), KV storage ([`KvStore`]), threads or device streams, kernel choices.
//!
//! Backends are found by name in [`BACKENDS`]; a new one (CUDA, aarch64) is one module plus one
//! line there. See ARCHITECTURE.md for how a GPU backend maps onto these operations.

mod backend;
pub mod cpu;

pub use backend::{
    Act, Activation, Attention, Backend, BackendError, BackendOptions, Gating, KvGeometry, KvStore,
    MatrixId, RopeId, StepInput, VectorId, WeightMemory, Workspace, WorkspaceSpec,
};
pub use nomoat_kernels::ops::attention::MAX_HEAD_DIM;
pub use nomoat_kernels::ops::{llama3_freq_factors, GeluMode, KvDtype, RopeMode, RopeParams};

/// A backend this build can make.
#[derive(Clone, Copy, Debug)]
pub struct BackendInfo {
    /// The name `--backend` takes.
    pub name: &'static str,
    pub about: &'static str,
    pub create: fn(&BackendOptions) -> Result<Box<dyn Backend>, BackendError>,
}

/// The registry: every backend compiled in, the default first.
pub const BACKENDS: &[BackendInfo] = &[BackendInfo {
    name: cpu::NAME,
    about: "host CPU: scalar, AVX2 or AVX-512 kernels chosen at run time, a thread pool",
    create: cpu::create,
}];

/// The default backend's name.
pub const DEFAULT_BACKEND: &str = cpu::NAME;

/// Makes the backend called `name`.
pub fn create(name: &str, opts: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    match BACKENDS.iter().find(|b| b.name == name) {
        Some(b) => (b.create)(opts),
        None => Err(BackendError::UnknownBackend {
            name: name.to_owned(),
            available: BACKENDS
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Whether matrices of `ty` can be loaded by the default backend (validation without a backend
/// at hand: `nomoat show`).
pub fn supports_type(ty: nomoat_gguf::GgmlType) -> bool {
    nomoat_kernels::supported(ty)
}

/// Threads used when none are asked for: one per physical core.
pub fn default_threads() -> usize {
    nomoat_kernels::pool::default_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backends_are_named_with_the_alternatives() {
        let e = create("metal", &BackendOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown compute backend `metal` (this build has: cpu)"
        );
        assert_eq!(
            create("cpu", &BackendOptions::default()).unwrap().name(),
            "cpu"
        );
    }
}
