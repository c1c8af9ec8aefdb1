//! Server-rendered SVG charts (bar charts with axis labels, sparklines), laid out here so
//! the templates only draw what they are given and pages need no JavaScript.

use serde::Serialize;

/// One bar, in chart coordinates.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChartBar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub label: String,
    pub value: i64,
    /// Where clicking the bar goes (empty: not a link).
    pub href: String,
}

/// A bar chart: the plot area is `width` × `height`; labels sit outside it.
#[derive(Debug, Clone, Serialize)]
pub struct BarChart {
    pub title: String,
    pub width: u32,
    pub height: u32,
    /// The SVG viewBox: the plot plus a margin for the y-axis labels.
    pub view_box: String,
    pub bars: Vec<ChartBar>,
    /// Value at the top of the y axis.
    pub y_max: i64,
    /// Labels under the first, middle and last bar.
    pub x_first: String,
    pub x_middle: String,
    pub x_last: String,
}

/// Lays out `values` as bars filling the plot area; the tallest bar reaches the top.
pub fn bar_chart(title: &str, values: &[(String, i64, String)], width: u32, height: u32) -> BarChart {
    let max = values.iter().map(|(_, v, _)| *v).max().unwrap_or(0).max(1);
    let slot = width as f64 / values.len().max(1) as f64;
    let gap = if slot > 4.0 { 1.0 } else { 0.0 };
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, (label, value, href))| {
            let bar_height = (*value as f64 / max as f64) * height as f64;
            ChartBar {
                x: i as f64 * slot,
                y: height as f64 - bar_height,
                width: (slot - gap).max(0.5),
                height: bar_height,
                label: label.clone(),
                value: *value,
                href: href.clone(),
            }
        })
        .collect();
    let label_at = |i: usize| values.get(i).map(|(l, _, _)| l.clone()).unwrap_or_default();
    BarChart {
        title: title.to_string(),
        width,
        height,
        view_box: format!("-36 -8 {} {}", width + 40, height + 12),
        bars,
        y_max: max,
        x_first: label_at(0),
        x_middle: if values.len() > 2 { label_at(values.len() / 2) } else { String::new() },
        x_last: if values.len() > 1 { label_at(values.len() - 1) } else { String::new() },
    }
}

/// The `points` attribute of an SVG polyline drawing `values` in a `width` × `height` box.
pub fn sparkline(values: &[i64], width: u32, height: u32) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 { width as f64 / (values.len() - 1) as f64 } else { 0.0 };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!("{:.1},{:.1}", i as f64 * step, height as f64 - (*v as f64 / max) * (height as f64 - 1.0))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_the_plot_and_keep_their_labels() {
        let values: Vec<(String, i64, String)> =
            [("a", 1), ("b", 4), ("c", 2)].iter().map(|(l, v)| (l.to_string(), *v, String::new())).collect();
        let chart = bar_chart("t", &values, 300, 100);
        assert_eq!(chart.y_max, 4);
        assert_eq!(chart.bars[1].height, 100.0);
        assert_eq!(chart.bars[1].y, 0.0);
        assert_eq!(chart.bars[0].height, 25.0);
        assert_eq!(chart.bars[2].x, 200.0);
        assert_eq!((chart.x_first.as_str(), chart.x_middle.as_str(), chart.x_last.as_str()), ("a", "b", "c"));
        assert!(bar_chart("empty", &[], 100, 10).bars.is_empty());
    }

    #[test]
    fn sparkline_spans_the_box() {
        assert_eq!(sparkline(&[0, 2, 1], 100, 20), "0.0,20.0 50.0,1.0 100.0,10.5");
        assert_eq!(sparkline(&[], 100, 20), "");
    }
}
