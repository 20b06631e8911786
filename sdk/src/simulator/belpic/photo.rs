//! EF(ID#Photo): a generated greyscale JPEG of the size real cards carry (140 x 200).

use jpeg_encoder::{ColorType, Encoder};

use super::error::BelpicError;

/// Photo width in pixels.
pub const WIDTH: u16 = 140;
/// Photo height in pixels.
pub const HEIGHT: u16 = 200;

/// A greyscale portrait silhouette on a graded background, shaded by `seed` so that two
/// personas' photos (and their hashes) differ.
///
/// # Errors
/// [`BelpicError::Photo`] if the encoder fails.
pub fn photo(seed: u8) -> Result<Vec<u8>, BelpicError> {
    let (width, height) = (usize::from(WIDTH), usize::from(HEIGHT));
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            pixels.push(shade(x, y, seed));
        }
    }
    let mut jpeg = Vec::with_capacity(4096);
    Encoder::new(&mut jpeg, 80)
        .encode(&pixels, WIDTH, HEIGHT, ColorType::Luma)
        .map_err(|err| BelpicError::Photo(err.to_string()))?;
    Ok(jpeg)
}

/// Grey level of one pixel: head (ellipse), shoulders (half ellipse), background gradient.
fn shade(x: usize, y: usize, seed: u8) -> u8 {
    let (fx, fy) = (x as f32, y as f32);
    let head = ((fx - 70.0) / 34.0).powi(2) + ((fy - 78.0) / 44.0).powi(2);
    let shoulders = ((fx - 70.0) / 68.0).powi(2) + ((fy - 205.0) / 70.0).powi(2);
    if head <= 1.0 {
        140u8.saturating_add(seed % 40)
    } else if shoulders <= 1.0 {
        60u8.saturating_add(seed % 30)
    } else {
        // A light vertical gradient, as a photo booth background.
        (235.0 - fy * 0.2) as u8
    }
}
