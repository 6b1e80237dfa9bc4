-- An attempt's row is written twice: inserted by the claim, then given its outcome, detail and
-- end. Packed full (the default fillfactor, 100), the claim's inserts leave their pages no
-- room, so each outcome's new version went to another page with a new entry in both of the
-- table's indexes. No indexed column changes with the outcome: with room beside the row the
-- update is a heap-only (HOT) one, written in place. An attempt grows by its end and a short
-- outcome (about 15 bytes on its ~56), and each version must fit beside the row: 60% of the
-- page is left free. Measured over a 60,000-message send: 13,000 outcomes in place with full
-- pages, 53,000 at 50%, all at 40%; the server's time in statements about a tenth less
-- (BENCHMARKS.md). Existing pages keep their layout; new ones follow.
ALTER TABLE attempts SET (fillfactor = 40);
