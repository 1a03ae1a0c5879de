SELECT c.name, sum(o.total) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY revenue DESC LIMIT 10
SELECT strftime('%Y-%m', created_at) AS month, count(*) FROM orders GROUP BY month
SELECT id, total, rank() OVER (PARTITION BY customer_id ORDER BY total DESC) AS r FROM orders
SELECT id, lag(total) OVER w, lead(total, 1, 0) OVER w FROM orders WINDOW w AS (ORDER BY created_at)
SELECT group_concat(name, ', '), string_agg(name, ',') FROM customers
SELECT date('now', '-7 days'), datetime(created_at, '+1 month'), julianday('now') - julianday(created_at), unixepoch(created_at) FROM orders
SELECT CAST(strftime('%Y', created_at) AS INTEGER), CAST(total AS REAL), CAST(id AS TEXT) FROM orders
SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END, iif(total > 10, 'a', 'b'), ifnull(total, 0) FROM orders
SELECT coalesce(email, 'n/a'), nullif(country, ''), max(1, 2), min(3, 4) FROM customers
SELECT upper(name), lower(country), length(name), substr(name, 1, 3), trim(name), instr(name, 'a'), name || '!' FROM customers
SELECT replace(name, 'a', 'b'), printf('%05d', id), format('%s', name), round(total, 2), abs(total) FROM orders, customers
SELECT json_extract(data, '$.sku'), data -> '$.tags', data ->> '$.a', json_array_length(data, '$.tags') FROM orders
SELECT json_object('id', id), json_group_array(id), json_group_object(id, total) FROM orders
SELECT j.key, j.value FROM orders, json_each(orders.data) AS j
SELECT t.fullkey FROM orders, json_tree(orders.data) t
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT n FROM t
WITH monthly AS (SELECT strftime('%Y-%m', created_at) m, sum(total) s FROM orders GROUP BY 1) SELECT m, s, s - lag(s) OVER (ORDER BY m) FROM monthly
SELECT name, type FROM sqlite_master WHERE type = 'table'
SELECT * FROM pragma_table_info('orders')
SELECT p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
SELECT * FROM pragma_index_list('orders'), pragma_foreign_key_list('orders')
SELECT sqlite_version(), typeof(total), total_changes() IS NULL FROM orders
SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id) AND o.id IN (1, 2, 3)
SELECT name LIKE 'a%', name GLOB 'a*', hex(name), quote(name), unicode(name) FROM customers
SELECT ntile(4) OVER (ORDER BY total), percent_rank() OVER (ORDER BY total), row_number() OVER () FROM orders
SELECT avg(total), total(total), count(DISTINCT customer_id) FROM orders
SELECT "name", [total], `id` FROM orders
SELECT count(*) FILTER (WHERE total > 10) FROM orders
SELECT * FROM (VALUES (1, 'a'), (2, 'b'))
SELECT id FROM orders ORDER BY total DESC NULLS LAST LIMIT 5 OFFSET 10
SELECT time(created_at), strftime('%w', created_at), date(created_at, 'start of month') FROM orders
SELECT a.id FROM orders a LEFT JOIN customers b USING (id)
SELECT 1 FROM orders WHERE total IS NOT NULL AND total BETWEEN 1 AND 10
SELECT random(), abs(random() % 10), randomblob(4) IS NOT NULL
SELECT ltrim(name), rtrim(name), char(65), zeroblob(1) IS NOT NULL FROM customers
SELECT first_value(total) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders
SELECT EXISTS (SELECT 1 FROM orders), (SELECT max(total) FROM orders)
SELECT likely(1), unlikely(0), json_valid('{}'), json_type('[]'), json('[1]')
SELECT * FROM generate_series(1, 10)
SELECT sum(total) OVER (PARTITION BY customer_id ORDER BY id RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM orders
SELECT customer_id, count(*) FROM orders GROUP BY (customer_id) ORDER BY (count(*)) DESC
