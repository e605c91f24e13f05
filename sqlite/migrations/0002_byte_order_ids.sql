-- Mirrors postgres/migrations/0002_byte_order_ids.sql, which gives lead,
-- account and event ids PostgreSQL's byte-order "C" collation. SQLite's
-- default collation, BINARY, already compares text byte by byte, so there is
-- nothing to change here. The file exists because migrations are numbered
-- from 1 without gaps and the two backends keep the same numbers, so that a
-- migration number means the same schema change on both.
SELECT 1;
