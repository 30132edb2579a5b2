-- Customer and MRR retention by cohort: customers grouped by the month of
-- their first paid day, measured at each later month end (the last month is
-- measured on the latest day of data).
with periods as (
    select customer_id, started_date, ended_date, mrr_usd
    from intermediate.int_subscription_periods
),

first_periods as (
    select
        customer_id,
        cast(date_trunc('month', started_date) as date) as cohort_month,
        mrr_usd as starting_mrr
    from intermediate.int_subscription_periods
    where period_number = 1
),

month_ends as (
    select
        cast(date_trunc('month', date_day) as date) as calendar_month,
        max(date_day) as month_end
    from intermediate.int_date_spine
    group by cast(date_trunc('month', date_day) as date)
),

active as (
    select month_ends.calendar_month, periods.customer_id, periods.mrr_usd
    from month_ends
    inner join periods
        on periods.started_date <= month_ends.month_end
        and (periods.ended_date is null or periods.ended_date > month_ends.month_end)
),

cohorts as (
    select cohort_month, count(*) as cohort_customers, sum(starting_mrr) as starting_mrr
    from first_periods
    group by cohort_month
),

retained as (
    select
        first_periods.cohort_month,
        active.calendar_month,
        count(*) as retained_customers,
        sum(active.mrr_usd) as retained_mrr
    from first_periods
    inner join active on first_periods.customer_id = active.customer_id
    group by first_periods.cohort_month, active.calendar_month
)

select
    cohorts.cohort_month,
    cast(
        (extract(year from month_ends.calendar_month) - extract(year from cohorts.cohort_month)) * 12
        + extract(month from month_ends.calendar_month) - extract(month from cohorts.cohort_month)
        as integer
    ) as months_since_signup,
    month_ends.month_end as measured_on,
    cast(cohorts.cohort_customers as bigint) as cohort_customers,
    cast(coalesce(retained.retained_customers, 0) as bigint) as retained_customers,
    cast(
        1.0 * coalesce(retained.retained_customers, 0) / cohorts.cohort_customers as double
    ) as retention_rate,
    cast(cohorts.starting_mrr as decimal(18, 2)) as starting_mrr,
    cast(coalesce(retained.retained_mrr, 0) as decimal(18, 2)) as retained_mrr,
    -- Above 1 when expansion outweighs churn: net MRR retention, not a share.
    cast(coalesce(retained.retained_mrr, 0) / cohorts.starting_mrr as double) as mrr_retention
from cohorts
inner join month_ends on month_ends.calendar_month >= cohorts.cohort_month
left join retained
    on cohorts.cohort_month = retained.cohort_month
    and month_ends.calendar_month = retained.calendar_month
