-- MRR movements explain every MRR change:
--   1. per day, new + expansion + contraction + churned + reactivation MRR in
--      the daily mart equals the change of its MRR since the previous day;
--   2. those columns equal the day's total in int_mrr_movements;
--   3. at every month end, the mart's MRR equals the MRR of the subscription
--      periods active that day, computed independently from the periods.
with daily as (
    select
        date_day,
        mrr,
        new_mrr + expansion_mrr + contraction_mrr + churned_mrr + reactivation_mrr as movements,
        mrr - coalesce(lag(mrr) over (order by date_day), 0) as mrr_change
    from marts.customer_lifecycle_daily
),

movement_totals as (
    select date_day, sum(mrr_delta) as mrr_delta
    from intermediate.int_mrr_movements
    group by date_day
),

month_ends as (
    select max(date_day) as date_day
    from marts.customer_lifecycle_daily
    group by cast(date_trunc('month', date_day) as date)
),

period_mrr as (
    select month_ends.date_day, coalesce(sum(periods.mrr_usd), 0) as mrr
    from month_ends
    left join intermediate.int_subscription_periods as periods
        on periods.started_date <= month_ends.date_day
        and (periods.ended_date is null or periods.ended_date > month_ends.date_day)
    group by month_ends.date_day
)

select 'movements differ from the MRR change' as failure, date_day, movements as expected,
    mrr_change as actual
from daily
where movements <> mrr_change

union all

select 'mart movements differ from int_mrr_movements', daily.date_day,
    coalesce(movement_totals.mrr_delta, 0), daily.movements
from daily
left join movement_totals on daily.date_day = movement_totals.date_day
where coalesce(movement_totals.mrr_delta, 0) <> daily.movements

union all

select 'mart MRR differs from active periods', period_mrr.date_day, period_mrr.mrr, daily.mrr
from period_mrr
inner join daily on period_mrr.date_day = daily.date_day
where period_mrr.mrr <> daily.mrr
