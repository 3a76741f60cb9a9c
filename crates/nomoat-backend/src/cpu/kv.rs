//! KV storage in host memory, laid out as the attention kernel reads it: per layer, K and V
//! each `[n_blocks][n_kv_head][block_size][head_dim]` in f16 or f32, allocated once.

use std::any::Any;

use half::f16;
use nomoat_kernels::ops::{KvBlocks, KvDtype, KvPool};

use crate::backend::{BackendError, KvGeometry, KvStore};

enum Store {
    F16(Vec<f16>),
    F32(Vec<f32>),
}

impl Store {
    fn alloc(dtype: KvDtype, n: usize, what: &str) -> Result<Store, BackendError> {
        let too_large = || BackendError::KvTooLarge {
            what: what.to_owned(),
        };
        Ok(match dtype {
            KvDtype::F16 => {
                let mut v = Vec::new();
                v.try_reserve_exact(n).map_err(|_| too_large())?;
                v.resize(n, f16::ZERO);
                Store::F16(v)
            }
            KvDtype::F32 => {
                let mut v = Vec::new();
                v.try_reserve_exact(n).map_err(|_| too_large())?;
                v.resize(n, 0.0);
                Store::F32(v)
            }
        })
    }

    fn pool(&self) -> KvPool<'_> {
        match self {
            Store::F16(v) => KvPool::F16(v),
            Store::F32(v) => KvPool::F32(v),
        }
    }

    fn write(&mut self, at: usize, src: &[f32]) {
        match self {
            Store::F16(v) => {
                for (d, &s) in v[at..at + src.len()].iter_mut().zip(src) {
                    *d = f16::from_f32(s);
                }
            }
            Store::F32(v) => v[at..at + src.len()].copy_from_slice(src),
        }
    }

    fn read(&self, at: usize, dst: &mut [f32]) {
        match self {
            Store::F16(v) => {
                let n = dst.len();
                for (d, s) in dst.iter_mut().zip(&v[at..at + n]) {
                    *d = s.to_f32();
                }
            }
            Store::F32(v) => dst.copy_from_slice(&v[at..at + dst.len()]),
        }
    }

    fn copy_within(&mut self, from: usize, to: usize, len: usize) {
        match self {
            Store::F16(v) => v.copy_within(from..from + len, to),
            Store::F32(v) => v.copy_within(from..from + len, to),
        }
    }
}

/// The CPU backend's [`KvStore`].
pub(crate) struct CpuKv {
    geom: KvGeometry,
    k: Vec<Store>,
    v: Vec<Store>,
}

impl std::fmt::Debug for CpuKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuKv").field("geom", &self.geom).finish()
    }
}

impl CpuKv {
    /// Allocates every layer now; sizes are checked for overflow first.
    pub(crate) fn new(geom: &KvGeometry) -> Result<CpuKv, BackendError> {
        let g = *geom;
        if g.n_blocks == 0 || g.block_size == 0 || g.n_blocks > u32::MAX as usize {
            return Err(BackendError::KvGeometry(format!(
                "{} blocks of {} tokens",
                g.n_blocks, g.block_size
            )));
        }
        let what = format!(
            "{} blocks × {} tokens × {} layers",
            g.n_blocks, g.block_size, g.n_layer
        );
        let per_layer = |hd: usize| {
            g.n_blocks
                .checked_mul(g.block_size)
                .and_then(|x| x.checked_mul(g.n_kv_head))
                .and_then(|x| x.checked_mul(hd))
                .ok_or_else(|| BackendError::KvTooLarge { what: what.clone() })
        };
        let (nk, nv) = (per_layer(g.head_dim_k)?, per_layer(g.head_dim_v)?);
        g.block_bytes()
            .and_then(|b| b.checked_mul(g.n_blocks))
            .ok_or_else(|| BackendError::KvTooLarge { what: what.clone() })?;
        let mut k = Vec::with_capacity(g.n_layer);
        let mut v = Vec::with_capacity(g.n_layer);
        for _ in 0..g.n_layer {
            k.push(Store::alloc(g.dtype, nk, &what)?);
            v.push(Store::alloc(g.dtype, nv, &what)?);
        }
        Ok(CpuKv { geom: g, k, v })
    }

    /// K and V of one layer for the attention kernel.
    pub(crate) fn layer(&self, layer: usize) -> KvBlocks<'_> {
        KvBlocks {
            k: self.k[layer].pool(),
            v: self.v[layer].pool(),
            block_size: self.geom.block_size,
        }
    }

    /// Element offsets of head 0 of (`block`, `slot`) in K and in V.
    fn offsets(&self, block: u32, slot: usize) -> (usize, usize) {
        let g = &self.geom;
        let base = block as usize * g.n_kv_head * g.block_size + slot;
        (base * g.head_dim_k, base * g.head_dim_v)
    }
}

impl KvStore for CpuKv {
    fn geometry(&self) -> &KvGeometry {
        &self.geom
    }

    fn bytes(&self) -> usize {
        self.geom.block_bytes().unwrap_or(0) * self.geom.n_blocks
    }

    fn copy_block(&mut self, from: u32, to: u32) {
        let g = &self.geom;
        let per_k = g.n_kv_head * g.block_size * g.head_dim_k;
        let per_v = g.n_kv_head * g.block_size * g.head_dim_v;
        for l in 0..g.n_layer {
            self.k[l].copy_within(from as usize * per_k, to as usize * per_k, per_k);
            self.v[l].copy_within(from as usize * per_v, to as usize * per_v, per_v);
        }
    }

    fn write(&mut self, layer: usize, block: u32, slot: usize, k: &[f32], v: &[f32]) {
        let (hk, hv, nkv, bs) = (
            self.geom.head_dim_k,
            self.geom.head_dim_v,
            self.geom.n_kv_head,
            self.geom.block_size,
        );
        assert!(slot < bs && (block as usize) < self.geom.n_blocks);
        let (k0, v0) = self.offsets(block, slot);
        for h in 0..nkv {
            // Heads of a block are `block_size` slots apart.
            self.k[layer].write(k0 + h * bs * hk, &k[h * hk..(h + 1) * hk]);
            self.v[layer].write(v0 + h * bs * hv, &v[h * hv..(h + 1) * hv]);
        }
    }

    fn read(&self, layer: usize, block: u32, slot: usize, k: &mut [f32], v: &mut [f32]) {
        let (hk, hv, nkv, bs) = (
            self.geom.head_dim_k,
            self.geom.head_dim_v,
            self.geom.n_kv_head,
            self.geom.block_size,
        );
        let (k0, v0) = self.offsets(block, slot);
        for h in 0..nkv {
            self.k[layer].read(k0 + h * bs * hk, &mut k[h * hk..(h + 1) * hk]);
            self.v[layer].read(v0 + h * bs * hv, &mut v[h * hv..(h + 1) * hv]);
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
