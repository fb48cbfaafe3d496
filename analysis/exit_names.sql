-- Names of a run's exits (:run_id) in exit order, from its per-layer cost table: exit heads are
-- the rows named 'head NAME'. Empty when the run simulated no accelerator.
SELECT substr(name, 6) AS name
FROM layer_costs
WHERE run_id = :run_id AND name LIKE 'head %'
  AND opp = (SELECT MIN(opp) FROM layer_costs WHERE run_id = :run_id)
ORDER BY layer;
