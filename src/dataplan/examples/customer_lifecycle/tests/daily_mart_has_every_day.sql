-- The daily mart has exactly one row per day between its first and last day.
with days as (
    select date_day, lag(date_day) over (order by date_day) as previous_day
    from marts.customer_lifecycle_daily
),

bounds as (
    select
        min(date_day) as first_day,
        max(date_day) as last_day,
        count(*) as day_rows,
        count(distinct date_day) as distinct_days
    from marts.customer_lifecycle_daily
)

select previous_day, date_day, 'days missing in between' as problem
from days
where previous_day is not null and date_day - previous_day <> 1

union all

select first_day, last_day, 'row count differs from the number of days' as problem
from bounds
where day_rows = 0
    or day_rows <> last_day - first_day + 1
    or day_rows <> distinct_days
