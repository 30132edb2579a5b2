-- Every day from the first signup to the latest load, so daily marts have no
-- missing days even when nothing happened.
with bounds as (
    select
        (select min(signup_date) from intermediate.int_customer_spine) as first_day,
        (select max(latest_load) from staging.stg_source_loads) as last_day
)

select cast(days.date_day as date) as date_day
from bounds
cross join generate_series(bounds.first_day, bounds.last_day, interval '1 day') as days (date_day)
