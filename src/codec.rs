//! Compression codecs: what they cost in CPU time. The size effect is the scenario's
//! `compression_ratio` for its data; the speeds are single-core figures for typical JSON-like
//! records (lz4 and zstd at their default levels), documented in the README.

use crate::scenario::model::{Compression, CompressionRatios};
use crate::sim::time::NS_PER_SEC;

/// Compression speed of one producer thread, in uncompressed bytes per second.
pub fn compress_bytes_per_sec(codec: Compression) -> u64 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 60_000_000,
        Compression::Snappy => 500_000_000,
        Compression::Lz4 => 700_000_000,
        Compression::Zstd => 350_000_000,
    }
}

/// Decompression speed of one consumer thread, in uncompressed bytes per second.
pub fn decompress_bytes_per_sec(codec: Compression) -> u64 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 300_000_000,
        Compression::Snappy => 1_500_000_000,
        Compression::Lz4 => 3_000_000_000,
        Compression::Zstd => 1_000_000_000,
    }
}

fn cpu_ns(bytes: u64, bytes_per_sec: u64) -> u64 {
    if bytes_per_sec == 0 {
        return 0;
    }
    u64::try_from(u128::from(bytes) * u128::from(NS_PER_SEC) / u128::from(bytes_per_sec))
        .unwrap_or(u64::MAX)
}

/// CPU time to compress `bytes` (0 without compression).
pub fn compress_ns(codec: Compression, bytes: u64) -> u64 {
    cpu_ns(bytes, compress_bytes_per_sec(codec))
}

/// CPU time to decompress `bytes` of uncompressed data (0 without compression).
pub fn decompress_ns(codec: Compression, bytes: u64) -> u64 {
    cpu_ns(bytes, decompress_bytes_per_sec(codec))
}

/// Compressed size / uncompressed size of the scenario's data for a codec.
pub fn ratio(codec: Compression, ratios: &CompressionRatios) -> f64 {
    match codec {
        Compression::None => 1.0,
        Compression::Gzip => ratios.gzip,
        Compression::Snappy => ratios.snappy,
        Compression::Lz4 => ratios.lz4,
        Compression::Zstd => ratios.zstd,
    }
}
