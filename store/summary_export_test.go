package store

import "context"

// WriteSummaryBatchTwice writes what z holds as one batch, and then the
// same batch again, as a retry after a commit whose answer was lost does.
func WriteSummaryBatchTwice(ctx context.Context, z *Summarizer) error {
	z.writeMu.Lock()
	defer z.writeMu.Unlock()
	z.mu.Lock()
	b := z.pending
	z.pending = newSummaryBatch()
	z.mu.Unlock()
	if err := z.write(ctx, b); err != nil {
		return err
	}
	return z.write(ctx, b)
}
