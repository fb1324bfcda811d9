//! The result table: each figure for both servers, the ratio berth/distribution, which way is better,
//! and how far the figure is from this machine's limit.

use crate::limits::Limits;
use std::fmt::Write as _;

/// Which of the machine's limits bounds a figure.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// The durable (fsync'd) disk write rate, MiB/s.
    DiskWrite,
    /// One loopback TCP stream, MiB/s.
    Loopback,
    /// The loopback copy divided by this many MiB per request: requests/s.
    LoopbackPer(f64),
}

impl Limit {
    fn value(self, l: &Limits) -> (f64, &'static str) {
        match self {
            Limit::DiskWrite => (l.durable_write, "fsync'd disk write"),
            Limit::Loopback => (l.loopback, "loopback TCP copy"),
            Limit::LoopbackPer(mib) => (l.loopback / mib, "loopback copy / range size"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub better: Better,
    /// Medians over the rounds (or the single measurement).
    pub berth: f64,
    pub dist: f64,
    /// The machine's limit for this figure, in the same unit, and what it is.
    pub limit: Option<Limit>,
    /// Every round's value, berth then distribution.
    pub rounds: [Vec<f64>; 2],
    /// Whether the verdict column applies (not for the load generator's own figures).
    verdict: bool,
}

/// The median of the finite values (NaN marks a round without a figure); NaN when there are none.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

pub fn num(v: f64) -> String {
    if !v.is_finite() {
        "-".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Row {
    pub fn new(name: impl Into<String>, unit: &'static str, better: Better, rounds: [Vec<f64>; 2]) -> Self {
        Row {
            name: name.into(),
            unit,
            better,
            berth: median(&rounds[0]),
            dist: median(&rounds[1]),
            limit: None,
            rounds,
            verdict: true,
        }
    }

    /// A row without a verdict: figures that say nothing about which server is better.
    pub fn plain(mut self) -> Self {
        self.verdict = false;
        self
    }

    pub fn with_limit(mut self, limit: Option<Limit>) -> Self {
        self.limit = limit;
        self
    }

    fn cell(&self, v: f64, limits: &Limits) -> String {
        match self.limit {
            Some(l) => format!("{} ({:.0}%)", num(v), 100.0 * v / l.value(limits).0),
            None => num(v),
        }
    }

    pub fn ratio(&self) -> f64 {
        self.berth / self.dist
    }

    fn cells(&self, limits: &Limits) -> Vec<String> {
        let r = self.ratio();
        let verdict = match self.better {
            _ if !r.is_finite() || !self.verdict => "-",
            Better::Higher if r > 1.0 => "berth better",
            Better::Lower if r < 1.0 => "berth better",
            _ if r == 1.0 => "same",
            _ => "berth worse",
        };
        vec![
            self.name.clone(),
            self.unit.to_owned(),
            match self.better {
                Better::Higher => "higher".to_owned(),
                Better::Lower => "lower".to_owned(),
            },
            self.cell(self.berth, limits),
            self.cell(self.dist, limits),
            if r.is_finite() { format!("{r:.2}x") } else { "-".to_owned() },
            verdict.to_owned(),
            self.limit
                .map(|l| {
                    let (v, what) = l.value(limits);
                    format!("{} ({what})", num(v))
                })
                .unwrap_or_default(),
        ]
    }
}

const HEAD: [&str; 8] =
    ["workload", "unit", "better", "berth", "distribution", "berth/distribution", "verdict", "machine limit"];

/// An aligned plain-text table.
pub fn text(rows: &[Row], limits: &Limits) -> String {
    let all: Vec<Vec<String>> = std::iter::once(HEAD.iter().map(|s| s.to_string()).collect())
        .chain(rows.iter().map(|r| r.cells(limits)))
        .collect();
    let widths: Vec<usize> =
        (0..HEAD.len()).map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, r) in all.iter().enumerate() {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
    out
}

pub fn markdown(rows: &[Row], limits: &Limits) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEAD.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        HEAD.iter().enumerate().map(|(i, _)| if i >= 3 { "---:|" } else { "---|" }).collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.cells(limits).join(" | "));
    }
    out
}

/// Every round's values, to judge the noise behind each median.
pub fn rounds_markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| workload | unit | berth, each round | distribution, each round |");
    let _ = writeln!(out, "|---|---|---|---|");
    for r in rows {
        let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "| {} | {} | {} | {} |", r.name, r.unit, list(&r.rounds[0]), list(&r.rounds[1]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 1.0, 3.0]), 2.0);
    }

    #[test]
    fn verdict_follows_the_direction() {
        let l = Limits { sha256: 1000.0, loopback: 40.0, durable_write: 100.0 };
        let up = Row::new("x", "req/s", Better::Higher, [vec![20.0], vec![10.0]]).with_limit(Some(Limit::Loopback));
        let cells = up.cells(&l);
        assert_eq!(cells[3..7], ["20.0 (50%)", "10.0 (25%)", "2.00x", "berth better"]);
        let down = Row::new("x", "ms", Better::Lower, [vec![20.0], vec![10.0]]);
        assert_eq!(down.cells(&l)[6], "berth worse");
        assert_eq!(down.clone().plain().cells(&l)[6], "-");
    }
}
