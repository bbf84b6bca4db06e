console.log("bangerd");
