//! Real data for an input from NumPy `.npy` files: one file used for every set of inputs, or a folder of them,
//! one per set in file-name order. Little-endian (or byte-sized) C-order arrays of the harness's element types.

use super::InputDescription;
use anyhow::{bail, Context, Result};
use harness_backend_api::{ElementType, Tensor, TensorData};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The `count` tensors `path` gives the input `description`: a file's array for every set, or a folder's
/// files in name order, which must be exactly `count`.
pub fn load_sets(path: &Path, description: &InputDescription, count: usize) -> Result<Vec<Tensor>> {
    if !path.is_dir() {
        let tensor = load(path, description)?;
        return Ok(vec![tensor; count]);
    }
    let files = data_files(path)?;
    if files.len() != count {
        bail!(
            "{} holds {} .npy files; the scenario makes {count} sets of inputs (`[inputs]`), one file each",
            path.display(),
            files.len()
        );
    }
    files.iter().map(|file| load(file, description)).collect()
}

/// The files an input's `npy` names: the file itself, or a folder's `.npy` files in name order (one per set).
pub fn data_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read the folder {}", path.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    files.sort();
    Ok(files)
}

/// One `.npy` file as the input `description` wants it: the same element type and shape.
pub fn load(path: &Path, description: &InputDescription) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let tensor =
        parse(&bytes).with_context(|| format!("{} is not a usable .npy file", path.display()))?;
    if tensor.element_type() != description.element_type || tensor.shape != description.shape {
        bail!(
            "{} holds {} {:?}; {} is {} {:?}",
            path.display(),
            tensor.element_type(),
            tensor.shape,
            description.label(),
            description.element_type,
            description.shape
        );
    }
    Ok(tensor)
}

/// Reads the array of a `.npy` file (format versions 1 to 3).
fn parse(bytes: &[u8]) -> Result<Tensor> {
    let rest = bytes.strip_prefix(MAGIC).context("no NumPy header")?;
    let (&[major, _minor], rest) = rest.split_first_chunk::<2>().context("cut short")?;
    let (length, rest) = match major {
        1 => {
            let (length, rest) = rest.split_first_chunk::<2>().context("cut short")?;
            (usize::from(u16::from_le_bytes(*length)), rest)
        }
        2 | 3 => {
            let (length, rest) = rest.split_first_chunk::<4>().context("cut short")?;
            (u32::from_le_bytes(*length) as usize, rest)
        }
        other => bail!("format version {other} is not one this reader knows (1 to 3)"),
    };
    if rest.len() < length {
        bail!("cut short in its header");
    }
    let (header, data) = rest.split_at(length);
    let header = std::str::from_utf8(header).context("the header is not text")?;
    let descr = field(header, "descr")?;
    let element_type = element_type(descr.trim().trim_matches(|c| c == '\'' || c == '"'))?;
    if field(header, "fortran_order")?.trim() != "False" {
        bail!("the array is in Fortran order; save it in C order (numpy.ascontiguousarray)");
    }
    let shape_text = field(header, "shape")?;
    let shape = shape_text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .with_context(|| format!("shape {shape_text}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let count: usize = shape.iter().product();
    let data = data
        .get(..count * element_type.size())
        .context("cut short in its data")?;
    let data = TensorData::from_bytes(element_type, data)
        .with_context(|| format!("values that are not {element_type}"))?;
    Tensor::new(shape, data).map_err(anyhow::Error::msg)
}

/// The text of one field of the header's Python dict: up to the next top-level comma.
fn field<'a>(header: &'a str, key: &str) -> Result<&'a str> {
    let start = header
        .find(&format!("'{key}'"))
        .with_context(|| format!("no `{key}` in the header"))?;
    let value = header[start + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')
        .with_context(|| format!("no value for `{key}`"))?;
    let mut depth = 0;
    for (i, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Ok(&value[..i]),
            _ => {}
        }
    }
    bail!("the header's `{key}` does not end")
}

/// The element type of a NumPy type string (this machine is little-endian, as `to_bytes` assumes).
fn element_type(descr: &str) -> Result<ElementType> {
    Ok(match descr {
        "<f4" => ElementType::F32,
        "<f2" => ElementType::F16,
        "<f8" => ElementType::F64,
        "<i8" => ElementType::I64,
        "<i4" => ElementType::I32,
        "|i1" | "<i1" => ElementType::I8,
        "|u1" | "<u1" => ElementType::U8,
        "|b1" => ElementType::Bool,
        other => bail!(
            "dtype `{other}` is not one of the harness's element types in little-endian order"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1.0 file as numpy.save writes it.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        npy_in_order(descr, "False", shape, data)
    }

    fn npy_in_order(descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        while !(MAGIC.len() + 4 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn arrays_of_each_shape_and_type_are_read() {
        let ids: Vec<u8> = [7i64, 30521].iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensor = parse(&npy("<i8", "(1, 2)", &ids)).unwrap();
        assert_eq!(tensor.shape, vec![1, 2]);
        assert_eq!(tensor.data, TensorData::I64(vec![7, 30521]));
        let scalar = parse(&npy("<i8", "()", &16000i64.to_le_bytes())).unwrap();
        assert_eq!((scalar.shape.len(), scalar.data.len()), (0, 1));
        let one = parse(&npy("<f4", "(3,)", &[0; 12])).unwrap();
        assert_eq!(one.shape, vec![3]);
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        let err = parse(&npy(">f4", "(1,)", &[0; 4])).unwrap_err().to_string();
        assert!(err.contains("`>f4`"), "{err}");
        let err = parse(&npy_in_order("<f4", "True", "(2, 2)", &[0; 16]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Fortran order"), "{err}");
        let err = parse(&npy("<f4", "(4,)", &[0; 8])).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
    }
}
