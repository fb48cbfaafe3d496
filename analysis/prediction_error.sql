-- Error of the first prediction of each inference of one run (:run_id), in exits: the exit it
-- pointed to minus the first exit that would really fire (positive: predicted too late).
SELECT e.layer + e.predicted_jump - e.true_first_exit AS error, COUNT(*) AS n
FROM exit_evals AS e
WHERE e.run_id = :run_id AND e.seq = 0 AND e.predicted_jump IS NOT NULL
  AND e.true_first_exit IS NOT NULL
GROUP BY error ORDER BY error;
