-- Same as migrations/postgres/0006.
-- The dashboard's run page reads a run's Pareto set without scanning the whole run.
CREATE INDEX candidates_run_pareto ON candidates (run_id, iteration) WHERE pareto;
