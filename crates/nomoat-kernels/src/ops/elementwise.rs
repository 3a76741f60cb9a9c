//! Elementwise arithmetic on equal-length rows (the compiler vectorises these loops).

/// `out[i] = a[i] + b[i]`.
pub fn add(a: &[f32], b: &[f32], out: &mut [f32]) {
    assert!(a.len() == b.len() && out.len() == a.len());
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// `x[i] += y[i]` (the residual connection).
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    assert_eq!(x.len(), y.len());
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `out[i] = a[i] · b[i]`.
pub fn mul(a: &[f32], b: &[f32], out: &mut [f32]) {
    assert!(a.len() == b.len() && out.len() == a.len());
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x * y;
    }
}

/// `x[i] *= y[i]`.
pub fn mul_assign(x: &mut [f32], y: &[f32]) {
    assert_eq!(x.len(), y.len());
    for (a, &b) in x.iter_mut().zip(y) {
        *a *= b;
    }
}

/// `x[i] *= s`.
pub fn scale(x: &mut [f32], s: f32) {
    x.iter_mut().for_each(|v| *v *= s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_elementwise() {
        let a = [1.0f32, -2.0, 3.5];
        let b = [0.5f32, 4.0, -1.0];
        let mut o = [0.0f32; 3];
        add(&a, &b, &mut o);
        assert_eq!(o, [1.5, 2.0, 2.5]);
        mul(&a, &b, &mut o);
        assert_eq!(o, [0.5, -8.0, -3.5]);
        let mut x = a;
        add_assign(&mut x, &b);
        assert_eq!(x, [1.5, 2.0, 2.5]);
        mul_assign(&mut x, &[2.0, 0.5, 2.0]);
        assert_eq!(x, [3.0, 1.0, 5.0]);
        scale(&mut x, -1.0);
        assert_eq!(x, [-3.0, -1.0, -5.0]);
    }
}
