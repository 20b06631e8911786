//! Transaction counters benchmark (being written).
fn main() {}
