-- One row per CRM account: the newest version across loads, since the feed
-- re-sends rows and delivers some a load late.
with versions as (
    select
        accounts.*,
        row_number() over (
            partition by account_id
            order by updated_at desc, dt desc
        ) as version_rank
    from crm.accounts as accounts
)

select
    cast(account_id as varchar) as account_id,
    cast(name as varchar) as account_name,
    cast(coalesce(industry, 'unknown') as varchar) as industry,
    cast(region as varchar) as region,
    cast(acquisition_channel as varchar) as acquisition_channel,
    cast(employees as integer) as employees,
    cast(created_at as timestamp) as created_at,
    cast(created_at as date) as created_date,
    cast(updated_at as timestamp) as updated_at,
    cast(dt as date) as load_date
from versions
where version_rank = 1
