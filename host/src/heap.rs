//! Giving the allocator's free memory back to the system after a burst of work.
//!
//! Loading modules (reading bundles, checking signatures, hashing and mapping compiled code)
//! allocates a few MB that are freed right after; glibc's allocator keeps such freed pages
//! mapped, so without this an idle connector would hold its start-up peak for its lifetime.

/// Returns the free pages of every allocator arena to the system (glibc's `malloc_trim`).
/// Cheap (a walk over the free lists); called after a start and after an install, not per
/// request. Elsewhere than Linux with glibc it does nothing.
pub(crate) fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    trim();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: `malloc_trim` takes no pointer and only releases memory the allocator holds as
    // free; it is thread-safe (it locks each arena) and has no precondition.
    unsafe {
        libc::malloc_trim(0);
    }
}
