-- One row per billing customer, newest version. `crm_account_id` is kept as
-- sent: about 2% of customers reference no CRM account (see the warn test).
with versions as (
    select
        customers.*,
        row_number() over (
            partition by customer_id
            order by updated_at desc, dt desc
        ) as version_rank
    from billing.customers as customers
)

select
    cast(customer_id as varchar) as customer_id,
    cast(crm_account_id as varchar) as crm_account_id,
    cast(lower(trim(email)) as varchar) as email,
    cast(upper(currency) as varchar) as currency,
    cast(created_at as timestamp) as created_at,
    cast(created_at as date) as signup_date,
    cast(updated_at as timestamp) as updated_at,
    cast(dt as date) as load_date
from versions
where version_rank = 1
