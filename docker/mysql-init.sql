-- Demo users of the local docker-compose stack (demo passwords; never reuse them).
CREATE DATABASE IF NOT EXISTS magento CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE DATABASE IF NOT EXISTS ragsync CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'magento'@'%' IDENTIFIED BY 'magento-demo';
CREATE USER IF NOT EXISTS 'ragsync'@'%' IDENTIFIED BY 'ragsync-demo';
GRANT SELECT ON magento.* TO 'magento'@'%';
GRANT ALL PRIVILEGES ON ragsync.* TO 'ragsync'@'%';
