//! The architecture registry: `general.architecture` → the [`ArchDef`] of the file that
//! implements it. Adding an architecture whose layers the layer library already has is one new
//! file (its hyperparameter quirks, its tensors by GGUF name, its forward pass) plus one line in
//! [`ARCHITECTURES`].

use std::fmt;

use nomoat_backend::RopeMode;

use crate::config::{ModelConfig, Reader};
use crate::layers::{Ctx, Head};
use crate::loader::Loader;
use crate::ModelError;

/// What the engine needs to know about one architecture.
pub(crate) struct ArchDef {
    /// `general.architecture`, also the metadata key prefix.
    pub name: &'static str,
    pub rope_mode: RopeMode,
    /// Reads the architecture's own hyperparameters (after the common ones are in `cfg`);
    /// problems are pushed to the reader.
    pub hparams: fn(&mut Reader<'_>, &mut ModelConfig),
    /// Declares its tensors (check mode) or loads them (load mode): see [`Loader`].
    pub load: LoadFn,
}

/// An architecture's loader: tensors by name → its [`Forward`].
pub(crate) type LoadFn = fn(&mut Loader<'_>, &ModelConfig) -> Result<Box<dyn Forward>, ModelError>;

/// A loaded architecture: its weight handles and its forward pass.
pub(crate) trait Forward: Send + Sync + fmt::Debug {
    /// Runs every layer on the step: embeddings in, the final residual stream left in
    /// `slot::X` (n × n_embd).
    fn layers(&self, cx: &mut Ctx<'_>);
    /// The final norm and LM head.
    fn head(&self) -> &Head;
}

/// No hyperparameters beyond the common ones.
pub(crate) fn no_quirks(_: &mut Reader<'_>, _: &mut ModelConfig) {}

/// Every architecture this build runs.
pub(crate) static ARCHITECTURES: &[&ArchDef] = &[
    &crate::llama::LLAMA,
    &crate::gemma3::GEMMA3,
    &crate::qwen2::QWEN2,
    &crate::qwen3::QWEN3,
];

pub(crate) fn find(name: &str) -> Option<&'static ArchDef> {
    ARCHITECTURES.iter().copied().find(|d| d.name == name)
}
