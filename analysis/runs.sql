-- One row per finished run of a result database: the run_summary view (docs/schema.md) joined
-- with the parameters the figures select and group by, pivoted out of run_params. Numeric
-- parameters are cast to REAL; the rest stay text. Runs still 'running' or 'failed', and runs
-- without inferences, are left out.
WITH p AS (
  SELECT run_id,
         MAX(CASE WHEN key = 'exit.policy' THEN value END)                     AS policy,
         MAX(CASE WHEN key = 'exit.rule' THEN value END)                       AS rule,
         MAX(CASE WHEN key = 'exit.beta' THEN CAST(value AS REAL) END)         AS beta,
         MAX(CASE WHEN key = 'exit.l0' THEN CAST(value AS INTEGER) END)        AS l0,
         MAX(CASE WHEN key = 'exit.rounds' THEN CAST(value AS INTEGER) END)    AS rounds,
         MAX(CASE WHEN key = 'exit.kernel' THEN value END)                     AS kernel,
         MAX(CASE WHEN key = 'exit.patience' THEN CAST(value AS INTEGER) END)  AS patience,
         MAX(CASE WHEN key = 'exit.exits' THEN value END)                      AS coarse_exits,
         MAX(CASE WHEN key = 'dvfs.governor' THEN value END)                   AS governor,
         MAX(CASE WHEN key = 'dvfs.opp_table' THEN value END)                  AS opp_table,
         MAX(CASE WHEN key = 'workload.arrival' THEN value END)                AS arrival,
         MAX(CASE WHEN key = 'workload.period_us' THEN CAST(value AS REAL) END) AS period_us,
         MAX(CASE WHEN key = 'workload.deadline_us' THEN CAST(value AS REAL) END) AS deadline_us,
         MAX(CASE WHEN key = 'network.arch' THEN value END)                    AS arch,
         MAX(CASE WHEN key = 'network.width' THEN CAST(value AS REAL) END)     AS width,
         MAX(CASE WHEN key = 'network.input' THEN value END)                   AS input,
         MAX(CASE WHEN key = 'experiment.data' THEN value END)                 AS data,
         MAX(CASE WHEN key = 'experiment.trace' THEN value END)                AS trace,
         MAX(CASE WHEN key = 'experiment.model' THEN value END)                AS model,
         MAX(CASE WHEN key = 'run.source' THEN value END)                      AS source,
         MAX(CASE WHEN key = 'run.exits' THEN CAST(value AS INTEGER) END)      AS n_exits,
         MAX(CASE WHEN key = 'run.classic_macs' THEN CAST(value AS REAL) END)  AS classic_macs,
         MAX(CASE WHEN key = 'run.classic_latency_ns' THEN CAST(value AS REAL) END) AS classic_latency_ns,
         MAX(CASE WHEN key = 'run.classic_energy_nj' THEN CAST(value AS REAL) END)  AS classic_energy_nj,
         MAX(CASE WHEN key = 'run.deadline_ns' THEN CAST(value AS REAL) END)   AS deadline_ns
  FROM run_params
  GROUP BY run_id
)
SELECT s.run_id, s.n_inferences, s.accuracy, s.mean_exit_layer, s.mean_exit_evals,
       s.rel_computation, s.rel_backbone, s.rel_exits, s.rel_predictor,
       s.mean_latency_ns, s.mean_energy_nj, s.deadline_misses, s.deadline_miss_rate,
       s.n_predictions, s.n_mispredictions, s.prediction_hit_rate, s.mean_jump,
       s.rel_energy, s.rel_latency, p.*
FROM run_summary AS s JOIN p ON p.run_id = s.run_id
WHERE s.status = 'done' AND s.n_inferences > 0
ORDER BY s.run_id;
