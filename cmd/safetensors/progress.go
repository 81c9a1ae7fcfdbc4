package main

import (
	"context"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports the bytes a long operation has processed, and carries
// the run's context, which the readers it wraps check. A nil *progress
// reports nothing and is never cancelled, so code calls it unconditionally.
type progress struct {
	bar *progressbar.ProgressBar
	ctx context.Context
}

// newProgress returns a progress bar of total bytes on stderr, with the
// description, the bytes done, the speed and the time left; or a progress
// that draws nothing when stderr is not a terminal or --quiet was given.
func (a *app) newProgress(description string, total int64) *progress {
	if !a.terminal || a.quiet || total <= 0 {
		return &progress{ctx: a.ctx}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetTheme(progressbar.Theme{Saucer: "█", SaucerPadding: "░", BarStart: " ", BarEnd: " "}),
		// Drawn at once, so that even a short operation shows that it ran.
		progressbar.OptionSetRenderBlankState(true),
	)
	return &progress{bar: bar, ctx: a.ctx}
}

// err returns the context's error once the run is cancelled.
func (p *progress) err() error {
	if p == nil || p.ctx == nil {
		return nil
	}
	return p.ctx.Err()
}

// add reports n more bytes done.
func (p *progress) add(n int64) {
	if p != nil && p.bar != nil {
		p.bar.Add64(n)
	}
}

// setTo reports n bytes done in all.
func (p *progress) setTo(n int64) {
	if p != nil && p.bar != nil {
		p.bar.Set64(n)
	}
}

// done stops the bar and erases it from the terminal, whether the operation
// finished or failed, so that what is printed next starts on a clean line.
func (p *progress) done() {
	if p != nil && p.bar != nil {
		p.bar.Exit()
		p.bar.Clear()
		p.bar = nil
	}
}

// reader returns r counting what is read from it, and failing once the run
// is cancelled.
func (p *progress) reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &progressReader{r: r, p: p}
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	if err := r.p.err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}
