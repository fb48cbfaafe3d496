-- Predicted jump sizes of one run (:run_id): every exit evaluation that was followed by a
-- prediction, by the jump J it predicted.
SELECT predicted_jump AS jump, COUNT(*) AS n
FROM exit_evals
WHERE run_id = :run_id AND predicted_jump IS NOT NULL
GROUP BY predicted_jump ORDER BY predicted_jump;
