//! Honest heap sizes: what glibc's malloc hands out for an allocation, and hashbrown's layout.

/// Bytes glibc's malloc uses for a request of `n` bytes (8-byte header, 16-byte steps, 32 minimum).
pub fn alloc(n: usize) -> usize {
    if n == 0 { 0 } else { ((n + 8 + 15) & !15).max(32) }
}

pub fn vec_bytes<T>(v: &Vec<T>) -> usize {
    alloc(v.capacity() * std::mem::size_of::<T>())
}

/// A hashbrown table (std's HashMap too) holding up to `capacity` entries of type `T`.
pub fn map_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 { (capacity + 1).next_power_of_two() } else { (capacity * 8 / 7).next_power_of_two() };
    alloc(buckets * std::mem::size_of::<T>() + buckets + 16)
}
