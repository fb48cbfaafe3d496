-- Exit distribution of one run (:run_id): inferences that left at each exit index (the final
-- classifier is the last index).
SELECT exit_layer, n FROM exit_histogram WHERE run_id = :run_id ORDER BY exit_layer;
