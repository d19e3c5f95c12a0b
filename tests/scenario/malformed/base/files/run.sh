#!/bin/sh
echo run {{not_a_template}}
