// Package chart draws the admin UI's charts as SVG on the server: a line
// or area chart of one or more time series (TimeChart, rendered by Time)
// and a horizontal bar list for rankings (Bars, rendered by BarList).
//
// The charts are rendered on the server, as SVG inside the page, rather
// than drawn in the browser by a chart library, because:
//
//   - there is no library to vendor, update and audit, and no JavaScript
//     to load before a chart shows: the page is complete as it arrives,
//     also with scripts disabled;
//   - the Content-Security-Policy stays strict: nothing here needs an
//     inline script or an inline style attribute. Geometry is in SVG
//     presentation attributes (x, y, width, height, d) and colours in the
//     CSS classes of the stylesheet, which also gives dark mode for free;
//   - it is fast: the layout is a few arithmetic passes over the points,
//     the markup a few kilobytes, and an HTMX swap replaces a chart like
//     any other fragment;
//   - it is accessible: every chart has a <title> and a <desc> (read by
//     screen readers through aria-labelledby) and the same numbers in a
//     <table> inside a <details>, which keyboard and screen reader users
//     can read cell by cell;
//   - it prints, scales to any width (a viewBox) and can be tested with
//     an HTML parser, like the rest of the page.
//
// The package knows nothing of aiproxy's domain: callers hand it times,
// values and formatters.
package chart
