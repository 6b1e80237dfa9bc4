-- Nothing on SQLite: PostgreSQL's attempts leave room on their pages for the outcome's new
-- version (a heap-only update). SQLite rewrites a row in place in its b-tree.
SELECT 1;
