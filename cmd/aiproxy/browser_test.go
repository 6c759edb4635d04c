package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// updateScreenshots writes the browser test's screenshots into
// docs/screenshots (they are committed and shown in the README); without
// it they go to a temporary directory, so that taking them is still
// tested.
var updateScreenshots = flag.Bool("update-screenshots", false, "write the admin UI screenshots into docs/screenshots")

// chromiumPath returns the Chromium the browser tests drive: AIPROXY_CHROMIUM
// (set by .ci/run), else chromium or chromium-browser on the PATH. Without
// one the test skips, or fails in CI.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("AIPROXY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("no Chromium: install Debian's chromium (apt-get install chromium) or set AIPROXY_CHROMIUM; .ci/run does")
	}
	tb.Skip("no Chromium on this machine (apt-get install chromium, or set AIPROXY_CHROMIUM): browser tests skipped")
	return ""
}

// browser is a headless Chromium for one test, closed when it ends.
type browser struct {
	ctx   context.Context
	shots string // where screenshots go
}

func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(tb)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	tb.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		tb.Fatalf("start Chromium: %v", err)
	}
	shots := tb.TempDir()
	if *updateScreenshots {
		shots = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return &browser{ctx: ctx, shots: shots}
}

// do runs steps within 20 seconds, failing the test on an error with
// the page's URL and main content, to see where it stood.
func (b *browser) do(tb testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		dctx, dcancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		html, _ := chromedp.Run(dctx, chromedp.OuterHTML("#main"))
		if len(html) > 12000 {
			html = html[:12000]
		}
		tb.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, html)
	}
}

// value runs a, failing the test on an error, and returns its value.
func value[T any](tb testing.TB, b *browser, what string, a chromedp.Action[T]) T {
	tb.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return v
}

// colorScheme emulates prefers-color-scheme (light, dark; "" resets).
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// screenshots takes the whole page as it is (PNG: quality 100), light and dark, as
// <name>-light.png and <name>-dark.png.
func (b *browser) screenshots(tb testing.TB, name string) {
	tb.Helper()
	for _, theme := range []string{"light", "dark"} {
		b.do(tb, "emulate "+theme, colorScheme(theme), chromedp.Sleep(100*time.Millisecond))
		png := value(tb, b, "screenshot "+name+" "+theme, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(b.shots, name+"-"+theme+".png"), png, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	b.do(tb, "reset the color scheme", colorScheme(""))
}
