//! Image inputs: decoded and preprocessed once, in the harness, so that every engine gets bit-identical
//! tensors. Declared per model: crop, resize, channel order, scale, mean and std, layout, element type.

use super::InputDescription;
use anyhow::{bail, Context, Result};
use harness_backend_api::{ElementType, Layout, Tensor, TensorData};
use image::imageops::{self, FilterType};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "bmp"];

/// How an image becomes the model's input tensor. Steps run in this order: crop, resize, then per pixel
/// `((value × scale) − mean[c]) / std[c]`, quantised for integer inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    #[serde(default)]
    pub crop: Crop,
    #[serde(default)]
    pub resize: Resize,
    #[serde(default)]
    pub channel_order: ChannelOrder,
    #[serde(default = "one")]
    pub scale: f32,
    #[serde(default = "zeros")]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub std: [f32; 3],
}

fn one() -> f32 {
    1.0
}
fn zeros() -> [f32; 3] {
    [0.0; 3]
}
fn ones() -> [f32; 3] {
    [1.0; 3]
}

/// A crop made before resizing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crop {
    #[default]
    None,
    /// The largest centred square.
    CenterSquare,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Straight to the model's height and width (bilinear).
    #[default]
    Exact,
    /// The shorter side to this many pixels (bilinear), then the centre cropped to the model's size.
    ShorterSide(u32),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelOrder {
    #[default]
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// A folder of images, each decoded and preprocessed into one tensor, in file-name order.
#[derive(Debug)]
pub struct LoadedImages {
    pub names: Vec<String>,
    pub tensors: Vec<Tensor>,
    pub files: Vec<PathBuf>,
}

/// Decodes and preprocesses every JPEG, PNG and BMP file in `folder`, in file-name order.
pub fn load_folder(
    folder: &Path,
    description: &InputDescription,
    preprocess: &Preprocess,
) -> Result<LoadedImages> {
    let entries = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read the image folder {}", folder.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "the image folder {} holds no JPEG, PNG or BMP file",
            folder.display()
        );
    }
    let mut inputs = LoadedImages {
        names: Vec::new(),
        tensors: Vec::new(),
        files: Vec::new(),
    };
    for file in &files {
        inputs
            .tensors
            .push(load_image(file, description, preprocess)?);
        inputs.names.push(
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        );
    }
    inputs.files = files;
    Ok(inputs)
}

pub fn load_image(
    path: &Path,
    description: &InputDescription,
    preprocess: &Preprocess,
) -> Result<Tensor> {
    let decoded = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(anyhow::Error::from)
        .and_then(|r| r.decode().map_err(anyhow::Error::from))
        .with_context(|| format!("cannot read the image {}", path.display()))?;
    to_tensor(&decoded.to_rgb8(), description, preprocess)
        .with_context(|| format!("image {}", path.display()))
}

/// Crops, resizes and normalises one RGB image into the model's input tensor.
pub fn to_tensor(
    image: &RgbImage,
    description: &InputDescription,
    preprocess: &Preprocess,
) -> Result<Tensor> {
    let Some((height, width, channels)) = description.image_geometry() else {
        bail!(
            "image inputs need a 4-D input shape with batch 1 and a layout (NCHW or NHWC), not {:?}",
            description.shape
        );
    };
    if channels != 3 {
        bail!("image inputs have 3 channels, but the model input has {channels}");
    }
    let (w, h) = (width as u32, height as u32);
    let cropped = match preprocess.crop {
        Crop::None => image.clone(),
        Crop::CenterSquare => {
            let side = image.width().min(image.height());
            imageops::crop_imm(
                image,
                (image.width() - side) / 2,
                (image.height() - side) / 2,
                side,
                side,
            )
            .to_image()
        }
    };
    let resized = match preprocess.resize {
        Resize::Exact => imageops::resize(&cropped, w, h, FilterType::Triangle),
        Resize::ShorterSide(side) => {
            let (iw, ih) = cropped.dimensions();
            let (rw, rh) = if iw <= ih {
                (
                    side,
                    (u64::from(side) * u64::from(ih) / u64::from(iw)) as u32,
                )
            } else {
                (
                    (u64::from(side) * u64::from(iw) / u64::from(ih)) as u32,
                    side,
                )
            };
            if rw < w || rh < h {
                bail!("resizing the shorter side to {side} gives {rw}×{rh}, smaller than the model's {w}×{h}");
            }
            let scaled = imageops::resize(&cropped, rw, rh, FilterType::Triangle);
            imageops::crop_imm(&scaled, (rw - w) / 2, (rh - h) / 2, w, h).to_image()
        }
    };
    let normalised = |x: usize, y: usize, c: usize| {
        let source_channel = match preprocess.channel_order {
            ChannelOrder::Rgb => c,
            ChannelOrder::Bgr => 2 - c,
        };
        let value = f32::from(resized.get_pixel(x as u32, y as u32)[source_channel]);
        (value * preprocess.scale - preprocess.mean[c]) / preprocess.std[c]
    };
    let mut values = Vec::with_capacity(height * width * 3);
    match description.layout {
        Some(Layout::Nhwc) => {
            for y in 0..height {
                for x in 0..width {
                    values.extend((0..3).map(|c| normalised(x, y, c)));
                }
            }
        }
        _ => {
            for c in 0..3 {
                for y in 0..height {
                    values.extend((0..width).map(|x| normalised(x, y, c)));
                }
            }
        }
    }
    let data = match (description.element_type, description.quantization) {
        (ElementType::F32, _) => TensorData::F32(values),
        (ElementType::U8, Some(q)) => TensorData::U8(
            values
                .iter()
                .map(|&v| q.quantize(v, 0, 255) as u8)
                .collect(),
        ),
        (ElementType::I8, Some(q)) => TensorData::I8(
            values
                .iter()
                .map(|&v| q.quantize(v, -128, 127) as i8)
                .collect(),
        ),
        // Without quantisation parameters a u8 input takes the (scaled, normalised) values as they are.
        (ElementType::U8, None) => TensorData::U8(
            values
                .iter()
                .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
        ),
        (ElementType::I8, None) => {
            bail!("an i8 image input needs `quantization = {{ scale, zero_point }}`")
        }
        (other, _) => bail!("image inputs are f32, u8 or i8, not {other}"),
    };
    Ok(Tensor {
        shape: description.shape.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Quantization;
    use image::Rgb;

    fn description(layout: Layout, shape: [usize; 4]) -> InputDescription {
        InputDescription {
            shape: shape.to_vec(),
            layout: Some(layout),
            element_type: ElementType::F32,
            ..InputDescription::default()
        }
    }

    /// 4×2: columns 0 and 3 are border (white); the centre square (columns 1–2) holds four known colours.
    fn test_image() -> RgbImage {
        let mut img = RgbImage::from_pixel(4, 2, Rgb([255, 255, 255]));
        img.put_pixel(1, 0, Rgb([10, 20, 30]));
        img.put_pixel(2, 0, Rgb([40, 50, 60]));
        img.put_pixel(1, 1, Rgb([70, 80, 90]));
        img.put_pixel(2, 1, Rgb([100, 110, 120]));
        img
    }

    fn imagenet() -> Preprocess {
        Preprocess {
            crop: Crop::CenterSquare,
            resize: Resize::Exact,
            channel_order: ChannelOrder::Rgb,
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    fn close(got: &TensorData, expected: &[f32]) {
        let TensorData::F32(got) = got else {
            panic!("f32")
        };
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-5, "{got:?} != {expected:?}");
        }
    }

    fn norm(v: f32, c: usize) -> f32 {
        let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
        (v / 255.0 - mean[c]) / std[c]
    }

    #[test]
    fn centre_crop_normalise_and_nchw_layout() {
        let t = to_tensor(
            &test_image(),
            &description(Layout::Nchw, [1, 3, 2, 2]),
            &imagenet(),
        )
        .unwrap();
        assert_eq!(t.shape, vec![1, 3, 2, 2]);
        let expected = [
            norm(10.0, 0),
            norm(40.0, 0),
            norm(70.0, 0),
            norm(100.0, 0),
            norm(20.0, 1),
            norm(50.0, 1),
            norm(80.0, 1),
            norm(110.0, 1),
            norm(30.0, 2),
            norm(60.0, 2),
            norm(90.0, 2),
            norm(120.0, 2),
        ];
        close(&t.data, &expected);
        // Hand-computed: (10/255 − 0.485) / 0.229 = −1.946654…
        let TensorData::F32(values) = &t.data else {
            unreachable!()
        };
        assert!((values[0] + 1.946_654).abs() < 1e-5);
    }

    #[test]
    fn nhwc_layout_and_bgr_order() {
        let mut p = imagenet();
        p.channel_order = ChannelOrder::Bgr;
        p.mean = [0.0; 3];
        p.std = [1.0; 3];
        p.scale = 1.0;
        let t = to_tensor(&test_image(), &description(Layout::Nhwc, [1, 2, 2, 3]), &p).unwrap();
        close(
            &t.data,
            &[
                30.0, 20.0, 10.0, 60.0, 50.0, 40.0, 90.0, 80.0, 70.0, 120.0, 110.0, 100.0,
            ],
        );
    }

    #[test]
    fn resizing_keeps_a_flat_colour_and_shorter_side_crops_the_centre() {
        let flat = RgbImage::from_pixel(40, 20, Rgb([200, 100, 50]));
        let mut p = imagenet();
        p.crop = Crop::None;
        p.resize = Resize::ShorterSide(10);
        p.mean = [0.0; 3];
        p.std = [1.0; 3];
        p.scale = 1.0;
        // 40×20 → 20×10 → centre 8×8.
        let t = to_tensor(&flat, &description(Layout::Nchw, [1, 3, 8, 8]), &p).unwrap();
        let TensorData::F32(v) = &t.data else {
            unreachable!()
        };
        assert_eq!(v.len(), 3 * 64);
        assert!(v[..64].iter().all(|&x| x == 200.0));
        assert!(v[64..128].iter().all(|&x| x == 100.0));
        assert!(v[128..].iter().all(|&x| x == 50.0));
        p.resize = Resize::ShorterSide(4);
        let err = to_tensor(&flat, &description(Layout::Nchw, [1, 3, 8, 8]), &p).unwrap_err();
        assert!(
            err.to_string().contains("smaller than the model's 8×8"),
            "{err}"
        );
    }

    #[test]
    fn integer_inputs_are_quantised_with_the_model_parameters() {
        let mut d = description(Layout::Nchw, [1, 3, 2, 2]);
        d.element_type = ElementType::I8;
        d.quantization = Some(Quantization {
            scale: 0.018_658_448,
            zero_point: -14,
        });
        let t = to_tensor(&test_image(), &d, &imagenet()).unwrap();
        let TensorData::I8(q) = &t.data else {
            panic!("i8")
        };
        // −1.946654 / 0.018658448 = −104.33 → −104 − 14 = −118.
        assert_eq!(q[0], -118);
    }

    #[test]
    fn unreadable_images_and_empty_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = description(Layout::Nchw, [1, 3, 2, 2]);
        let err = load_folder(dir.path(), &d, &imagenet()).unwrap_err();
        assert!(
            err.to_string().contains("holds no JPEG, PNG or BMP file"),
            "{err}"
        );
        assert!(err.to_string().contains(&dir.path().display().to_string()));

        let bad = dir.path().join("broken.jpg");
        std::fs::write(&bad, b"not a jpeg").unwrap();
        let err = load_folder(dir.path(), &d, &imagenet()).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read the image"),
            "{err:#}"
        );
        assert!(format!("{err:#}").contains("broken.jpg"), "{err:#}");
    }

    #[test]
    fn a_folder_is_read_in_name_order_and_other_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        test_image().save(dir.path().join("b.png")).unwrap();
        test_image().save(dir.path().join("a.PNG")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let inputs = load_folder(
            dir.path(),
            &description(Layout::Nchw, [1, 3, 2, 2]),
            &imagenet(),
        )
        .unwrap();
        assert_eq!(inputs.names, ["a.PNG", "b.png"]);
        assert_eq!(inputs.tensors[0], inputs.tensors[1]);
    }
}
