//! Scalar references of the f32/f16 vector helpers of the ops (norms, attention).

use half::f16;

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y).sum()
}

pub(crate) fn dot4_f32(k: &[f32], q: [&[f32]; 4]) -> [f32; 4] {
    q.map(|r| dot_f32(k, r))
}

pub(crate) fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

pub(crate) fn axpy4_f32(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
    for (a, r) in w.into_iter().zip(x) {
        axpy_f32(y, a, r);
    }
}

pub(crate) fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi.to_f32();
    }
}

pub(crate) fn axpy_f16_acc(y: &mut [f16], a: f32, x: &[f16]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = f16::from_f32(xi.to_f32().mul_add(a, yi.to_f32()));
    }
}
