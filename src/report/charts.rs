//! The charts of a report, drawn with plotters and written both as SVG (embedded in the HTML report) and PNG.
//! Fonts are compiled in (DejaVu Sans), so charts render the same on a machine without a desktop.

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

/// Okabe and Ito's palette, distinguishable with the common forms of colour blindness (black left out: it is
/// the colour of the text and axes).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
];

pub fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// A colour mixed with white, for filled areas with black lines drawn over them.
fn pale(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (f64::from(v) * 0.55 + 255.0 * 0.45).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

const FONT: &str = "sans-serif";
const GRID: RGBColor = RGBColor(225, 225, 225);

fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The bytes are a valid TrueType font compiled into the binary: registering cannot fail.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A chart, drawn once as SVG text and once as PNG bytes.
pub struct Rendered {
    /// The file name without extension, e.g. `speed`.
    pub name: String,
    pub title: String,
    pub svg: String,
    pub png: Vec<u8>,
}

/// Something that can be drawn on any plotters backend, so that SVG and PNG come from the same code.
pub trait Figure {
    /// The size of the plot, without the legend below it.
    fn plot_size(&self) -> (u32, u32);
    fn legend(&self) -> Vec<LegendEntry>;
    fn draw<DB: DrawingBackend>(&self, plot: &DrawingArea<DB, Shift>) -> Result<()>;
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Swatch {
    Block(RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
}

/// One legend item; legends are drawn in a strip under the plot, where they never hide data.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
}

const LEGEND_ROW: i32 = 26;

/// Where each legend entry goes in a strip `width` pixels wide (left to right, wrapping), and the strip's height.
fn legend_layout(entries: &[LegendEntry], width: u32) -> (Vec<(i32, i32)>, u32) {
    if entries.is_empty() {
        return (Vec::new(), 0);
    }
    let (mut x, mut y) = (70, LEGEND_ROW / 2 + 6);
    let mut places = Vec::new();
    for entry in entries {
        let item = 40 + 9 * entry.label.chars().count() as i32;
        if x + item > width as i32 - 20 && x > 70 {
            x = 70;
            y += LEGEND_ROW;
        }
        places.push((x, y));
        x += item;
    }
    (places, (y + LEGEND_ROW / 2 + 8) as u32)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<()> {
    let (places, _) = legend_layout(entries, area.dim_in_pixel().0);
    for (entry, &(x, y)) in entries.iter().zip(&places) {
        match entry.swatch {
            Swatch::Block(c) => {
                area.draw(&Rectangle::new([(x, y - 7), (x + 16, y + 7)], c.filled()))
            }
            Swatch::Line(c) => area.draw(&PathElement::new(
                vec![(x, y), (x + 24, y)],
                c.stroke_width(3),
            )),
            Swatch::Dashed(c) => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 9, y)],
                    c.stroke_width(2),
                ))
                .map_err(drawing_error)?;
                area.draw(&PathElement::new(
                    vec![(x + 15, y), (x + 24, y)],
                    c.stroke_width(2),
                ))
            }
        }
        .map_err(drawing_error)?;
        area.draw(&Text::new(
            entry.label.clone(),
            (x + 30, y - 9),
            (FONT, 15).into_font(),
        ))
        .map_err(drawing_error)?;
    }
    Ok(())
}

fn drawing_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    figure: &impl Figure,
) -> Result<()> {
    root.fill(&WHITE).map_err(drawing_error)?;
    let plot_height = figure.plot_size().1;
    let (plot, legend) = root.split_vertically(plot_height);
    figure.draw(&plot)?;
    draw_legend(&legend, &figure.legend())?;
    root.present().map_err(drawing_error)
}

pub fn render(name: &str, title: &str, figure: &impl Figure) -> Result<Rendered> {
    register_fonts();
    let (width, plot_height) = figure.plot_size();
    let height = plot_height + legend_layout(&figure.legend(), width).1;
    let mut svg = String::new();
    draw_figure(
        SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area(),
        figure,
    )?;
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    draw_figure(
        BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area(),
        figure,
    )?;
    let image = image::RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| anyhow!("the chart's pixel buffer has the wrong size"))?;
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(Rendered {
        name: name.to_string(),
        title: title.to_string(),
        svg,
        png,
    })
}

/// One value drawn as a bar, with its 95% interval as an error bar when known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
    /// Written after the value, e.g. `noisy` for a measurement that did not pass its validity checks.
    pub note: Option<&'static str>,
}

/// A series of a bar chart: one bar per category (or a gap).
#[derive(Clone, Debug)]
pub struct BarSeries {
    pub label: String,
    pub bars: Vec<Option<Bar>>,
}

/// Horizontal bars, one group per category (e.g. an engine) and one bar per series (e.g. a device and thread
/// count) in each group: long engine names stay readable, and the value is written at the end of every bar.
pub struct GroupedBars {
    pub title: String,
    pub axis: String,
    /// Appended to each bar's value label, e.g. ` ms`.
    pub unit: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
}

/// Width of the left label area for the longest of these labels, in pixels at a 15 px font.
fn label_width(labels: impl Iterator<Item = usize>) -> u32 {
    (labels.max().unwrap_or(4) as u32 * 9).clamp(60, 420) + 12
}

/// The y coordinate of the centre of category `index` of `count`, counted from the top.
fn category_centre(index: usize, count: usize) -> f64 {
    (count - 1 - index) as f64 + 0.5
}

/// Horizontal bars' chart: the title, a value axis from 0 to `x_max` described by `axis`, and one labelled row
/// per category, the first at the top.
fn category_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    (title, axis): (&str, &str),
    categories: &[String],
    x_max: f64,
) -> Result<ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Ticks>>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22).into_font().style(FontStyle::Bold))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(label_width(categories.iter().map(|c| c.chars().count())))
        .build_cartesian_2d(0.0..x_max, category_axis(categories.len().max(1)))
        .map_err(drawing_error)?;
    let labels = categories.to_vec();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .x_desc(axis)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .y_label_formatter(&move |y| category_label(&labels, *y))
        .draw()
        .map_err(drawing_error)?;
    Ok(chart)
}

/// A linear axis with ticks exactly where asked: at the centre of every category, so that each label sits
/// beside its group, or at whole thread counts. (plotters' own `with_key_points` loses the label formatter.)
#[derive(Clone)]
struct Ticks {
    range: std::ops::Range<f64>,
    at: Vec<f64>,
}

impl Ranged for Ticks {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (f64::from(limit.1 - limit.0) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only bold grid lines and labels: no light lines between categories.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.at.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

fn category_axis(count: usize) -> Ticks {
    Ticks {
        range: 0.0..count as f64,
        at: (0..count).map(|i| category_centre(i, count)).collect(),
    }
}

fn category_label(categories: &[String], position: f64) -> String {
    let count = categories.len();
    let from_top = count as f64 - position;
    if from_top < 0.0 {
        return String::new();
    }
    categories
        .get(from_top.floor() as usize)
        .cloned()
        .unwrap_or_default()
}

/// 1, 2, 3 and 5 times the powers of ten between `low` and `high`: readable ticks on a logarithmic axis.
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    (first..=last)
        .flat_map(|e| {
            // Dividing for negative powers keeps 0.3 exactly 0.3.
            [1.0, 2.0, 3.0, 5.0].map(|m| {
                if e >= 0 {
                    m * 10f64.powi(e)
                } else {
                    m / 10f64.powi(-e)
                }
            })
        })
        .filter(|t| (low..=high).contains(t))
        .collect()
}

/// A number with three significant digits: 0.0123, 1.23, 12.3, 123.
pub fn significant(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

impl Figure for GroupedBars {
    fn plot_size(&self) -> (u32, u32) {
        let bars = self.categories.len() * self.series.len().max(1);
        (
            1000,
            (120 + 26 * bars as u32 + 14 * self.categories.len() as u32).max(260),
        )
    }

    fn legend(&self) -> Vec<LegendEntry> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, series)| LegendEntry {
                label: series.label.clone(),
                swatch: Swatch::Block(colour(i)),
            })
            .collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let count = self.categories.len().max(1);
        let top = self
            .series
            .iter()
            .flat_map(|s| s.bars.iter().flatten())
            .map(|b| b.interval.map_or(b.value, |(_, high)| high.max(b.value)))
            .fold(0.0, f64::max);
        // Room to the right of the longest bar for its value label.
        let x_max = if top > 0.0 { top * 1.18 } else { 1.0 };
        let mut chart = category_chart(root, (&self.title, &self.axis), &self.categories, x_max)?;

        let series_count = self.series.len().max(1);
        let band = 0.8 / series_count as f64;
        for (s, series) in self.series.iter().enumerate() {
            let fill = colour(s);
            let bars: Vec<(f64, f64, Bar)> = series
                .bars
                .iter()
                .enumerate()
                .filter_map(|(c, bar)| bar.map(|bar| (c, bar)))
                .map(|(c, bar)| {
                    // Series run top to bottom inside each group, in legend order.
                    let upper = category_centre(c, count) + 0.4 - s as f64 * band;
                    (upper - band, upper, bar)
                })
                .collect();
            chart
                .draw_series(bars.iter().map(|&(low, high, bar)| {
                    Rectangle::new(
                        [(0.0, low + band * 0.08), (bar.value, high - band * 0.08)],
                        fill.filled(),
                    )
                }))
                .map_err(drawing_error)?;
            chart
                .draw_series(bars.iter().filter_map(|&(low, high, bar)| {
                    let (from, to) = bar.interval?;
                    let y = (low + high) / 2.0;
                    Some(PathElement::new(
                        vec![(from, y), (to, y)],
                        BLACK.stroke_width(2),
                    ))
                }))
                .map_err(drawing_error)?;
            chart
                .draw_series(
                    bars.iter()
                        .filter_map(|&(low, high, bar)| {
                            let (from, to) = bar.interval?;
                            let tick = band * 0.25;
                            let y = (low + high) / 2.0;
                            Some([from, to].map(|x| {
                                PathElement::new(
                                    vec![(x, y - tick), (x, y + tick)],
                                    BLACK.stroke_width(2),
                                )
                            }))
                        })
                        .flatten(),
                )
                .map_err(drawing_error)?;
            chart
                .draw_series(bars.iter().map(|&(low, high, bar)| {
                    let end = bar.interval.map_or(bar.value, |(_, to)| to.max(bar.value));
                    let mut label = format!("{}{}", significant(bar.value), self.unit);
                    if let Some(note) = bar.note {
                        label.push_str(&format!(" ({note})"));
                    }
                    EmptyElement::at((end, (low + high) / 2.0))
                        + Text::new(label, (6, -8), (FONT, 14).into_font())
                }))
                .map_err(drawing_error)?;
        }
        Ok(())
    }
}

/// The colour of the `index`-th part of a stack: the palette, then greys, so that up to ten parts stay apart.
pub fn part_colour(index: usize) -> RGBColor {
    const GREYS: [RGBColor; 3] = [
        RGBColor(90, 90, 90),
        RGBColor(150, 150, 150),
        RGBColor(200, 200, 200),
    ];
    match index.checked_sub(PALETTE.len()) {
        None => PALETTE[index],
        Some(grey) => GREYS[grey % GREYS.len()],
    }
}

/// Horizontal stacked bars: one bar per category (e.g. an engine), split into parts (e.g. operator classes)
/// that keep their colour across every bar; the bar's total is written at its end.
pub struct StackedBars {
    pub title: String,
    pub axis: String,
    pub unit: String,
    pub categories: Vec<String>,
    /// The parts' names, in stacking order; part `i` is drawn in `part_colour(i)`.
    pub parts: Vec<String>,
    /// Per category, each part's value (0 where the category has none of it).
    pub values: Vec<Vec<f64>>,
}

impl Figure for StackedBars {
    fn plot_size(&self) -> (u32, u32) {
        (1000, (120 + 34 * self.categories.len() as u32).max(220))
    }

    fn legend(&self) -> Vec<LegendEntry> {
        // Only the parts some bar has.
        self.parts
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                self.values
                    .iter()
                    .any(|v| v.get(*i).is_some_and(|&x| x > 0.0))
            })
            .map(|(i, part)| LegendEntry {
                label: part.clone(),
                swatch: Swatch::Block(part_colour(i)),
            })
            .collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let count = self.categories.len().max(1);
        let totals: Vec<f64> = self.values.iter().map(|v| v.iter().sum()).collect();
        let top = totals.iter().copied().fold(0.0, f64::max);
        let x_max = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut chart = category_chart(root, (&self.title, &self.axis), &self.categories, x_max)?;
        for (c, values) in self.values.iter().enumerate() {
            let centre = category_centre(c, count);
            let mut start = 0.0;
            let mut parts = Vec::new();
            for (i, &value) in values.iter().enumerate().filter(|(_, v)| **v > 0.0) {
                parts.push(Rectangle::new(
                    [(start, centre - 0.3), (start + value, centre + 0.3)],
                    part_colour(i).filled(),
                ));
                start += value;
            }
            chart.draw_series(parts).map_err(drawing_error)?;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((start, centre))
                        + Text::new(
                            format!("{}{}", significant(start), self.unit),
                            (6, -8),
                            (FONT, 14).into_font(),
                        ),
                ))
                .map_err(drawing_error)?;
        }
        Ok(())
    }
}

/// The spread of one measurement's latencies: Tukey's box (quartiles), whiskers to the furthest sample within
/// 1.5 interquartile ranges, and every sample beyond drawn as a point.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    pub label: String,
    /// Which colour (series) the box takes.
    pub series: usize,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub whisker_low: f64,
    pub whisker_high: f64,
    pub outliers: Vec<f64>,
}

impl Spread {
    pub fn of(label: String, series: usize, samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let quartile = |p| crate::analysis::percentile(&sorted, p);
        let (q1, median, q3) = (quartile(25.0), quartile(50.0), quartile(75.0));
        let fence = 1.5 * (q3 - q1);
        let inside = |x: &&f64| **x >= q1 - fence && **x <= q3 + fence;
        Some(Spread {
            label,
            series,
            q1,
            median,
            q3,
            whisker_low: sorted.iter().find(inside).copied().unwrap_or(q1),
            whisker_high: sorted.iter().rev().find(inside).copied().unwrap_or(q3),
            outliers: sorted.iter().filter(|x| !inside(x)).copied().collect(),
        })
    }
}

/// Latency distributions side by side, on a logarithmic axis so that a 5 ms engine and a 50 ms one both show
/// their tails.
pub struct Distribution {
    pub title: String,
    pub spreads: Vec<Spread>,
    /// The legend: one label per series index.
    pub series: Vec<String>,
}

impl Figure for Distribution {
    fn plot_size(&self) -> (u32, u32) {
        (1000, (130 + 34 * self.spreads.len() as u32).max(260))
    }

    fn legend(&self) -> Vec<LegendEntry> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, label)| LegendEntry {
                label: label.clone(),
                swatch: Swatch::Block(pale(colour(i))),
            })
            .collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let count = self.spreads.len().max(1);
        let all = self.spreads.iter().flat_map(|s| {
            [s.whisker_low, s.whisker_high]
                .into_iter()
                .chain(s.outliers.iter().copied())
        });
        let (low, high) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        let (low, high) = if low.is_finite() && low > 0.0 {
            (low / 1.15, high * 1.15)
        } else {
            (0.1, 10.0)
        };
        let labels: Vec<String> = self.spreads.iter().map(|s| s.label.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22).into_font().style(FontStyle::Bold))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(label_width(labels.iter().map(|l| l.chars().count())))
            .build_cartesian_2d(
                (low..high)
                    .log_scale()
                    .with_key_points(log_ticks(low, high)),
                category_axis(count),
            )
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("ms per frame (logarithmic): box = quartiles, line = median, whiskers = 1.5 IQR, dots = beyond")
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 15))
            .x_label_formatter(&|x| {
                let text = format!("{x:.3}");
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            })
            .y_label_formatter(&move |y| category_label(&labels, *y))
            .draw()
            .map_err(drawing_error)?;
        for series in 0..self.series.len() {
            let fill = colour(series);
            let spreads: Vec<(f64, &Spread)> = self
                .spreads
                .iter()
                .enumerate()
                .filter(|(_, s)| s.series == series)
                .map(|(i, s)| (category_centre(i, count), s))
                .collect();
            chart
                .draw_series(spreads.iter().map(|&(y, s)| {
                    Rectangle::new([(s.q1, y - 0.3), (s.q3, y + 0.3)], pale(fill).filled())
                }))
                .map_err(drawing_error)?;
            chart
                .draw_series(spreads.iter().flat_map(|&(y, s)| {
                    let stroke = BLACK.stroke_width(1);
                    [
                        PathElement::new(
                            vec![
                                (s.q1, y - 0.3),
                                (s.q3, y - 0.3),
                                (s.q3, y + 0.3),
                                (s.q1, y + 0.3),
                                (s.q1, y - 0.3),
                            ],
                            stroke,
                        ),
                        PathElement::new(
                            vec![(s.median, y - 0.3), (s.median, y + 0.3)],
                            BLACK.stroke_width(3),
                        ),
                        PathElement::new(vec![(s.whisker_low, y), (s.q1, y)], stroke),
                        PathElement::new(vec![(s.q3, y), (s.whisker_high, y)], stroke),
                        PathElement::new(
                            vec![(s.whisker_low, y - 0.15), (s.whisker_low, y + 0.15)],
                            stroke,
                        ),
                        PathElement::new(
                            vec![(s.whisker_high, y - 0.15), (s.whisker_high, y + 0.15)],
                            stroke,
                        ),
                    ]
                }))
                .map_err(drawing_error)?;
            chart
                .draw_series(spreads.iter().flat_map(|&(y, s)| {
                    s.outliers
                        .iter()
                        .map(move |&x| Circle::new((x, y), 2, fill.stroke_width(1)))
                }))
                .map_err(drawing_error)?;
        }
        Ok(())
    }
}

/// One line of the thread-scaling chart: (threads, speed-up) points.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingLine {
    pub label: String,
    pub points: Vec<(usize, f64)>,
}

/// Speed-up against thread count, with the ideal (linear) speed-up dashed for reference.
pub struct Scaling {
    pub title: String,
    pub lines: Vec<ScalingLine>,
}

impl Figure for Scaling {
    fn plot_size(&self) -> (u32, u32) {
        (1000, 540)
    }

    fn legend(&self) -> Vec<LegendEntry> {
        let ideal = LegendEntry {
            label: "ideal (linear)".to_string(),
            swatch: Swatch::Dashed(RGBColor(128, 128, 128)),
        };
        std::iter::once(ideal)
            .chain(self.lines.iter().enumerate().map(|(i, line)| LegendEntry {
                label: line.label.clone(),
                swatch: Swatch::Line(colour(i)),
            }))
            .collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let points = self.lines.iter().flat_map(|l| l.points.iter());
        let max_threads = points.clone().map(|p| p.0).max().unwrap_or(1).max(2);
        let top = points.map(|p| p.1).fold(max_threads as f64, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22).into_font().style(FontStyle::Bold))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(
                Ticks {
                    range: 0.8..max_threads as f64 + 0.2,
                    at: (1..=max_threads).map(|t| t as f64).collect(),
                },
                0.0..top,
            )
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("threads")
            .y_desc("speed-up over the fewest threads measured (higher is better)")
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 15))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("×{y:.1}"))
            .draw()
            .map_err(drawing_error)?;
        let ideal: Vec<(f64, f64)> = (1..=max_threads).map(|t| (t as f64, t as f64)).collect();
        chart
            .draw_series(DashedLineSeries::new(
                ideal,
                8,
                6,
                RGBColor(128, 128, 128).stroke_width(2),
            ))
            .map_err(drawing_error)?;
        for (i, line) in self.lines.iter().enumerate() {
            let stroke = colour(i).stroke_width(3);
            let points: Vec<(f64, f64)> = line.points.iter().map(|&(t, s)| (t as f64, s)).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), stroke))
                .map_err(drawing_error)?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 5, colour(i).filled())),
                )
                .map_err(drawing_error)?;
            chart
                .draw_series(points.iter().skip(1).map(|&(t, s)| {
                    EmptyElement::at((t, s))
                        + Text::new(format!("×{s:.2}"), (8, -18), (FONT, 14).into_font())
                }))
                .map_err(drawing_error)?;
        }
        Ok(())
    }
}

/// One labelled point of a scatter chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub label: String,
    pub series: usize,
    pub x: f64,
    pub y: f64,
}

/// Labelled points: a technique study's speed-up (x) against its answer agreement (y).
pub struct Scatter {
    pub title: String,
    pub x_axis: String,
    pub y_axis: String,
    pub points: Vec<Point>,
    /// The legend: one label per series index.
    pub series: Vec<String>,
    /// A dashed vertical line, e.g. at ×1 (no speed-up).
    pub x_reference: Option<f64>,
}

impl Figure for Scatter {
    fn plot_size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn legend(&self) -> Vec<LegendEntry> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, label)| LegendEntry {
                label: label.clone(),
                swatch: Swatch::Block(colour(i)),
            })
            .collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let xs = self.points.iter().map(|p| p.x).chain(self.x_reference);
        let (x_low, x_high) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        let ys = self.points.iter().map(|p| p.y);
        let (y_low, y_high) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
        let pad = |low: f64, high: f64| {
            let span = (high - low).max(high.abs() * 0.02).max(1e-3);
            (low - span * 0.15, high + span * 0.3)
        };
        let (x_range, y_range) = if self.points.is_empty() {
            ((0.0, 2.0), (0.0, 1.0))
        } else {
            (pad(x_low, x_high), pad(y_low, y_high))
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22).into_font().style(FontStyle::Bold))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(&self.x_axis)
            .y_desc(&self.y_axis)
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 15))
            .x_label_formatter(&|x| format!("×{x:.2}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()
            .map_err(drawing_error)?;
        if let Some(x) = self.x_reference {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, y_range.0), (x, y_range.1)],
                    8,
                    6,
                    RGBColor(128, 128, 128).stroke_width(2),
                ))
                .map_err(drawing_error)?;
        }
        // Each label goes right of its dot, moved down a line at a time until it overlaps no label placed
        // before it: dots that (nearly) coincide stack their labels instead of printing them over each other.
        let mut placed: Vec<[i32; 4]> = Vec::new();
        let stacked: Vec<i32> = self
            .points
            .iter()
            .map(|p| {
                let (x, y) = chart.backend_coord(&(p.x, p.y));
                let width = 21 + 7 * p.label.chars().count() as i32;
                let label_box = |k: i32| [x + 9, y - 8 + 15 * k, x + width, y + 6 + 15 * k];
                let overlaps = |a: &[i32; 4], b: &[i32; 4]| {
                    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
                };
                let k = (0..40)
                    .find(|&k| !placed.iter().any(|b| overlaps(&label_box(k), b)))
                    .unwrap_or(0);
                placed.push(label_box(k));
                k
            })
            .collect();
        chart
            .draw_series(
                self.points
                    .iter()
                    .map(|p| Circle::new((p.x, p.y), 6, colour(p.series).filled())),
            )
            .map_err(drawing_error)?;
        chart
            .draw_series(self.points.iter().zip(&stacked).map(|(p, &k)| {
                EmptyElement::at((p.x, p.y))
                    // A swatch before each label ties it to its series when dots overlap.
                    + Circle::new((14, 15 * k), 4, colour(p.series).filled())
                    + Text::new(p.label.clone(), (21, -7 + 15 * k), (FONT, 13).into_font())
            }))
            .map_err(drawing_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_follows_tukey() {
        // Quartiles 2.5 and 7.5 (numpy's linear interpolation); fences at −5 and 15.
        let mut samples: Vec<f64> = (0..=10).map(f64::from).collect();
        samples.push(40.0);
        let spread = Spread::of("x".into(), 0, &samples).unwrap();
        assert_eq!((spread.q1, spread.median, spread.q3), (2.75, 5.5, 8.25));
        assert_eq!((spread.whisker_low, spread.whisker_high), (0.0, 10.0));
        assert_eq!(spread.outliers, vec![40.0]);
        assert_eq!(Spread::of("empty".into(), 0, &[]), None);
    }

    #[test]
    fn log_ticks_are_one_two_three_five_within_the_range() {
        assert_eq!(log_ticks(2.4, 32.0), vec![3.0, 5.0, 10.0, 20.0, 30.0]);
        assert_eq!(log_ticks(0.15, 0.6), vec![0.2, 0.3, 0.5]);
    }

    #[test]
    fn category_labels_sit_at_the_centre_of_their_band() {
        let categories = vec!["first".to_string(), "second".to_string()];
        assert_eq!(category_centre(0, 2), 1.5);
        assert_eq!(category_label(&categories, category_centre(0, 2)), "first");
        assert_eq!(category_label(&categories, category_centre(1, 2)), "second");
    }

    #[test]
    fn legends_wrap_to_the_width() {
        let entries: Vec<LegendEntry> = (0..12)
            .map(|i| LegendEntry {
                label: format!("a fairly long series label {i}"),
                swatch: Swatch::Block(colour(i)),
            })
            .collect();
        let (places, height) = legend_layout(&entries, 1000);
        assert!(places.iter().all(|&(x, _)| x < 1000 - 40));
        let rows = places
            .iter()
            .map(|p| p.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert!(
            rows > 1 && height as i32 >= rows as i32 * LEGEND_ROW,
            "{rows} rows, {height} px"
        );
        assert_eq!(legend_layout(&[], 1000).1, 0);
    }
}
