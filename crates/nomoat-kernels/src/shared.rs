//! Disjoint writes into one output buffer from several pool threads.

use std::marker::PhantomData;

/// A mutable slice shared by the threads of one `ThreadPool::run`, each writing its own indices.
pub(crate) struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: the only access is through `write`/`slice_mut`, whose callers guarantee disjointness.
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    pub(crate) fn new(s: &'a mut [T]) -> Self {
        Self {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _borrow: PhantomData,
        }
    }

    /// # Safety
    /// No other thread may access index `i` during this call's pool job.
    #[inline]
    pub(crate) unsafe fn write(&self, i: usize, v: T) {
        assert!(
            i < self.len,
            "SharedMut index {i} out of bounds {}",
            self.len
        );
        // SAFETY: in bounds (checked); exclusivity is the caller's contract.
        unsafe { self.ptr.add(i).write(v) }
    }

    /// # Safety
    /// No other thread may access any index of `range` during this call's pool job.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut(&self, range: std::ops::Range<usize>) -> &mut [T] {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "SharedMut range out of bounds"
        );
        // SAFETY: in bounds (checked); exclusivity is the caller's contract.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.end - range.start)
        }
    }
}
