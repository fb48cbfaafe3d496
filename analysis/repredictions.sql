-- Predictions per inference of one run (:run_id): how many inferences needed 0, 1, 2, ...
-- predictions (every miss re-predicts), with the mispredictions among them.
SELECT n_predictions, COUNT(*) AS n, SUM(n_mispredictions) AS mispredictions
FROM inferences
WHERE run_id = :run_id
GROUP BY n_predictions ORDER BY n_predictions;
