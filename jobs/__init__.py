"""Jobs: the scheduler service and the job functions (crawl, classify, trends, digest, retrain, retention)."""
