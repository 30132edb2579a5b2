-- One row per raw dataset: how many daily loads arrived and the latest one.
-- Only the partition column is read, so this costs no scan of the rows; the
-- date spine uses it to end at the latest load even on a day nothing happened.
with loads as (
    select 'crm' as source_name, 'accounts' as table_name, max(dt) as latest_load, count(distinct dt) as loads
    from crm.accounts
    union all
    select 'crm', 'contacts', max(dt), count(distinct dt) from crm.contacts
    union all
    select 'crm', 'opportunities', max(dt), count(distinct dt) from crm.opportunities
    union all
    select 'billing', 'customers', max(dt), count(distinct dt) from billing.customers
    union all
    select 'billing', 'subscriptions', max(dt), count(distinct dt) from billing.subscriptions
    union all
    select 'billing', 'invoices', max(dt), count(distinct dt) from billing.invoices
    union all
    select 'billing', 'payments', max(dt), count(distinct dt) from billing.payments
    union all
    select 'support', 'tickets', max(dt), count(distinct dt) from support.tickets
)

select
    cast(source_name as varchar) as source_name,
    cast(table_name as varchar) as table_name,
    cast(latest_load as date) as latest_load,
    cast(loads as bigint) as loads
from loads
