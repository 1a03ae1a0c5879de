SELECT c.name, SUM(o.total) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY revenue DESC LIMIT 10
SELECT DATE_FORMAT(created_at, '%Y-%m') AS month, COUNT(*) FROM orders GROUP BY month
SELECT id, total, RANK() OVER (PARTITION BY customer_id ORDER BY total DESC) AS r FROM orders
SELECT id, LAG(total) OVER w, LEAD(total, 1, 0) OVER w FROM orders WINDOW w AS (ORDER BY created_at)
SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR ', ') FROM customers
SELECT EXTRACT(YEAR FROM created_at), YEAR(created_at), MONTH(created_at), DAYOFWEEK(created_at) FROM orders
SELECT NOW() - INTERVAL 30 DAY, CURDATE(), DATE_SUB(CURDATE(), INTERVAL 7 DAY), DATEDIFF(NOW(), created_at) FROM orders
SELECT DATE_ADD(created_at, INTERVAL 1 MONTH), TIMESTAMPDIFF(DAY, created_at, NOW()), STR_TO_DATE('2024-01-01', '%Y-%m-%d') FROM orders
SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END, IF(total > 10, 'a', 'b'), IFNULL(email, '-') FROM orders, customers
SELECT COALESCE(email, 'n/a'), NULLIF(country, ''), GREATEST(1, 2), LEAST(3, 4) FROM customers
SELECT UPPER(name), LOWER(country), CHAR_LENGTH(name), SUBSTRING(name, 1, 3), TRIM(name), LOCATE('a', name), CONCAT(name, '-', country), CONCAT_WS(',', a, b) FROM customers
SELECT LEFT(name, 2), RIGHT(name, 2), SUBSTRING_INDEX(email, '@', -1), REPLACE(name, 'a', 'b'), LPAD(id, 5, '0') FROM customers
SELECT CAST(total AS DECIMAL(10, 2)), CAST(id AS CHAR), CONVERT(total, SIGNED), ROUND(total, 2), FORMAT(total, 2) FROM orders
SELECT JSON_EXTRACT(data, '$.sku'), data->'$.tags', data->>'$.a', JSON_UNQUOTE(JSON_EXTRACT(data, '$.b')), JSON_LENGTH(data) FROM orders
SELECT JSON_OBJECT('id', id, 'total', total), JSON_ARRAYAGG(id) FROM orders
SELECT * FROM JSON_TABLE('[{"a":1}]', '$[*]' COLUMNS (a INT PATH '$.a')) AS jt
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT n FROM t
WITH monthly AS (SELECT DATE_FORMAT(created_at, '%Y-%m-01') m, SUM(total) s FROM orders GROUP BY 1) SELECT m, s, s - LAG(s) OVER (ORDER BY m) FROM monthly
SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = DATABASE()
SELECT DATABASE(), VERSION(), CURRENT_USER(), USER(), CONNECTION_ID()
SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id WITH ROLLUP
SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id) AND o.id IN (1, 2, 3)
SELECT name REGEXP '^a', name LIKE 'a%', REGEXP_REPLACE(name, '[0-9]+', '') FROM customers
SELECT NTILE(4) OVER (ORDER BY total), PERCENT_RANK() OVER (ORDER BY total), ROW_NUMBER() OVER () FROM orders
SELECT STDDEV(total), VARIANCE(total), AVG(total), MIN(total), MAX(total) FROM orders
SELECT MD5(email), SHA2(email, 256), UUID(), HEX(id) FROM customers
SELECT `name`, `orders`.`total` FROM `orders`
SELECT WEEK(created_at), QUARTER(created_at), LAST_DAY(created_at), UNIX_TIMESTAMP(created_at), FROM_UNIXTIME(0) FROM orders
SELECT COUNT(DISTINCT customer_id), SUM(CASE WHEN total > 10 THEN 1 ELSE 0 END) FROM orders
SELECT id FROM orders ORDER BY total DESC LIMIT 5 OFFSET 10
SELECT TIME_FORMAT(NOW(), '%H:%i'), SEC_TO_TIME(3600), TIMEDIFF(NOW(), created_at) FROM orders
SELECT MOD(id, 2), ABS(total), CEIL(total), FLOOR(total), POW(total, 2), SQRT(total), TRUNCATE(total, 1) FROM orders
SELECT CHAR(65), ASCII('a'), ORD('a'), DATE(created_at), TIMESTAMP(created_at), TIME(created_at) FROM orders
SELECT * FROM orders FORCE INDEX (PRIMARY) WHERE id > 1
SELECT FIND_IN_SET('b', 'a,b'), FIELD('b', 'a', 'b'), ELT(1, 'a', 'b') FROM orders
SELECT JSON_CONTAINS(data, '1', '$.a'), JSON_SEARCH(data, 'one', 'x'), JSON_KEYS(data) FROM orders
SELECT CONVERT_TZ(created_at, '+00:00', '+02:00'), DAYNAME(created_at), MONTHNAME(created_at) FROM orders
SELECT a.id FROM orders a LEFT JOIN customers b USING (id) RIGHT JOIN customers c ON c.id = a.id
SELECT 1 FROM orders WHERE total IS NOT NULL AND total BETWEEN 1 AND 10
SELECT CAST(created_at AS DATE), CAST('1' AS UNSIGNED), CAST(data AS JSON) FROM orders
SELECT customer_id, COUNT(*) FROM orders GROUP BY (customer_id) ORDER BY (COUNT(*)) DESC
