-- Customer retention is a share of its cohort: never null, never outside
-- [0, 1], and no cohort retains more customers than it started with.
select *
from marts.retention_cohorts
where retention_rate is null
    or retention_rate < 0
    or retention_rate > 1
    or retained_customers > cohort_customers
