//! The file formats shared by the sheet-like exports (the takedown list,
//! the companies list): one header row of Chinese column names, then one
//! row of text cells per record, numbered in the first column (序号).

use std::io::Write;
use std::path::Path;

use super::ExportError;

/// A workbook for `path` whose constant-memory sheets keep their rows in
/// temporary files beside `path` rather than in memory (rust_xlsxwriter
/// would panic on an unwritable temporary directory; this is an error).
pub(super) fn workbook(path: &Path) -> Result<rust_xlsxwriter::Workbook, ExportError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut wb = rust_xlsxwriter::Workbook::new();
    wb.set_tempdir(dir).map_err(|source| ExportError::Xlsx {
        path: path.display().to_string(),
        source,
    })?;
    Ok(wb)
}

/// Writes a header row and the rows as CSV in UTF-8 with a byte-order mark
/// (Excel on a Chinese Windows desktop reads UTF-8 only with it).
pub(super) fn write_csv<const N: usize>(
    headers: &[&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
    path: &Path,
) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    let csv_err = |source| ExportError::Csv {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    file.write_all("\u{feff}".as_bytes()).map_err(io)?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(headers).map_err(csv_err)?;
    for row in rows {
        w.write_record(row).map_err(csv_err)?;
    }
    w.flush().map_err(io)?;
    Ok(())
}

/// Writes the rows as a JSON array of objects keyed by `headers`: the row's
/// number (`seq`) under 序号 as a number, the other cells as text.
pub(super) fn write_json<const N: usize>(
    headers: &[&str; N],
    rows: impl IntoIterator<Item = (usize, [String; N])>,
    path: &Path,
) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .into_iter()
        .map(|(seq, cells)| {
            headers
                .iter()
                .zip(cells)
                .map(|(h, c)| {
                    let v = if *h == "序号" {
                        serde_json::Value::from(seq)
                    } else {
                        serde_json::Value::from(c)
                    };
                    (h.to_string(), v)
                })
                .collect()
        })
        .collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    serde_json::to_writer_pretty(&mut file, &objects).map_err(|e| io(e.into()))?;
    file.write_all(b"\n").map_err(io)?;
    file.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workbook_in_a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing").join("t.xlsx");
        let Err(e) = workbook(&out) else {
            panic!("a workbook beside {} was made", out.display())
        };
        assert!(e.to_string().contains(&out.display().to_string()), "{e}");
        // a bare file name writes its temporary files in the working directory
        assert!(workbook(Path::new("t.xlsx")).is_ok());
    }
}
