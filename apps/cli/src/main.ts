console.log("banger");
