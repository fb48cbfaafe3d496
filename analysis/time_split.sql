-- Where one run's (:run_id) time and energy went, per inference on average: the time_split view
-- (sums of segments by kind: backbone, exit, predictor, dvfs, idle) divided by the inferences.
SELECT t.kind,
       t.time_ns / n.n   AS time_ns,
       t.energy_nj / n.n AS energy_nj,
       t.compute_nj / n.n AS compute_nj,
       t.memory_nj / n.n AS memory_nj,
       t.static_nj / n.n AS static_nj
FROM time_split AS t,
     (SELECT COUNT(*) AS n FROM inferences WHERE run_id = :run_id) AS n
WHERE t.run_id = :run_id;
