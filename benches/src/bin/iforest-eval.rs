//! Fits our Isolation Forest on a CSV and prints one score per row, for the comparison with
//! scikit-learn in `scripts/ml_compare.py`.
//!
//! `iforest-eval TRAIN.csv SCORE.csv SEED [TREES] [SUBSAMPLE] [THREADS]`: both files hold numbers
//! only, one row per line, comma-separated. Prints the scores of SCORE.csv, one per line,
//! then on stderr the fit and score times in seconds.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use ndarray::Array2;
use netsentinel_core::ml::{ForestParams, IsolationForest};

fn read_csv(path: &str) -> Result<Array2<f64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut cols = 0;
    let mut values = Vec::new();
    let mut rows = 0;
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let row: Result<Vec<f64>, _> = line.split(',').map(|v| v.trim().parse::<f64>()).collect();
        let row = row.map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        if rows == 0 {
            cols = row.len();
        } else if row.len() != cols {
            return Err(format!(
                "{path}:{}: {} columns, expected {cols}",
                n + 1,
                row.len()
            ));
        }
        values.extend(row);
        rows += 1;
    }
    Array2::from_shape_vec((rows, cols), values).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: iforest-eval TRAIN.csv SCORE.csv SEED [TREES] [SUBSAMPLE]");
        return ExitCode::from(2);
    }
    let run = || -> Result<(), String> {
        let train = read_csv(&args[1])?;
        let score = read_csv(&args[2])?;
        let params = ForestParams {
            seed: args[3].parse().map_err(|e| format!("seed: {e}"))?,
            trees: args
                .get(4)
                .map_or(Ok(100), |t| t.parse())
                .map_err(|e| format!("trees: {e}"))?,
            subsample: args
                .get(5)
                .map_or(Ok(256), |t| t.parse())
                .map_err(|e| format!("subsample: {e}"))?,
            extended: false,
            threads: args
                .get(6)
                .map_or(Ok(0), |t| t.parse())
                .map_err(|e| format!("threads: {e}"))?,
        };
        let t0 = Instant::now();
        let forest = IsolationForest::fit(train.view(), &params).map_err(|e| e.to_string())?;
        let fit = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let scores = forest
            .score_batch(score.view())
            .map_err(|e| e.to_string())?;
        let scoring = t1.elapsed().as_secs_f64();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for s in scores {
            writeln!(out, "{s}").map_err(|e| e.to_string())?;
        }
        eprintln!("fit {fit:.3} s, score {scoring:.3} s");
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
