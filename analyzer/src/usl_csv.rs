//! `analyze usl FILE.csv`: throughput measured at several concurrency levels, by aforo or any
//! other tool, as CSV with (at least) the columns `concurrency` and `throughput`, in any
//! order; other columns are ignored.

use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CsvError {
    #[error("{path}: the file is empty; it needs a header line with concurrency,throughput")]
    Empty { path: String },
    #[error(
        "{path}: the header has no `{column}` column; it needs concurrency and throughput \
         (e.g. `concurrency,throughput`)"
    )]
    MissingColumn { path: String, column: &'static str },
    #[error("{path} line {line}: {column} {value:?} is not a number")]
    NotANumber {
        path: String,
        line: usize,
        column: &'static str,
        value: String,
    },
    #[error("{path} line {line}: expected at least {expected} fields, found {found}")]
    ShortLine {
        path: String,
        line: usize,
        expected: usize,
        found: usize,
    },
}

/// The (concurrency, throughput) points of `text`, read from `path` (for messages).
pub fn read_points(text: &str, path: &Path) -> Result<Vec<(f64, f64)>, CsvError> {
    let path = path.display().to_string();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines.next().ok_or(CsvError::Empty { path: path.clone() })?;
    let names: Vec<String> = header
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let column = |name: &'static str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or(CsvError::MissingColumn {
                path: path.clone(),
                column: name,
            })
    };
    let (n_col, x_col) = (column("concurrency")?, column("throughput")?);
    let needed = n_col.max(x_col) + 1;
    lines
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < needed {
                return Err(CsvError::ShortLine {
                    path: path.clone(),
                    line: index + 1,
                    expected: needed,
                    found: fields.len(),
                });
            }
            let number = |col: usize, column: &'static str| {
                fields[col]
                    .parse::<f64>()
                    .map_err(|_| CsvError::NotANumber {
                        path: path.clone(),
                        line: index + 1,
                        column,
                        value: fields[col].to_string(),
                    })
            };
            Ok((number(n_col, "concurrency")?, number(x_col, "throughput")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<(f64, f64)>, CsvError> {
        read_points(text, Path::new("points.csv"))
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let points = read("run,throughput,Concurrency\na,10.5,1\n\nb,19,2\n").unwrap();
        assert_eq!(points, vec![(1.0, 10.5), (2.0, 19.0)]);
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_the_fix() {
        let err = read("users,rps\n1,2\n").unwrap_err().to_string();
        assert!(
            err.contains("points.csv") && err.contains("concurrency"),
            "{err}"
        );
        let err = read("concurrency,throughput\n1,2\n2,fast\n").unwrap_err();
        assert_eq!(
            err,
            CsvError::NotANumber {
                path: "points.csv".into(),
                line: 3,
                column: "throughput",
                value: "fast".into()
            }
        );
        assert!(matches!(read(""), Err(CsvError::Empty { .. })));
        assert!(matches!(
            read("concurrency,throughput\n3\n"),
            Err(CsvError::ShortLine { line: 2, .. })
        ));
    }
}
