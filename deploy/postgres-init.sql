-- One database per service: each service owns its store.
CREATE DATABASE screening;
CREATE DATABASE review;
CREATE DATABASE notification;
CREATE DATABASE audit;
